"""SAM-Net's parameters (:class:`SAMNetParams`): the paper's values where it gives them, measured
choices otherwise, each with its figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import InputError
from .samnet_init import INITS

Form = Literal["auto", "training-free", "learned"]
FORMS = ("auto", "training-free", "learned")
DECODERS = ("auto", "blend", "learned")


@dataclass(frozen=True)
class SAMNetParams:
    """Parameters of :func:`sam_net`; the paper's where it gives them, measured choices otherwise.

    Attributes:
        iters: recurrent iterations L (paper: 10 at test time). 2 by default, with ``init="buddies"``:
            from that start the loop drifts away from the buddies' matches as it iterates (faces-dev
            PCK@0.1 pairs 0-39 / 40-79 after 1, 2, 3, 10 iterations: 0.731 / 0.770, 0.732 / 0.761,
            0.722 / 0.744, 0.687 / 0.721; TSS 0.953, 0.928, 0.920, 0.919); 2 keeps one matching step
            that sees the attribute-transferred source (the first matches the plain source).
        form: ``training-free`` (least-squares G, feature-inversion decoder), ``learned`` (the networks
            of Fig. 3 from a checkpoint) or ``auto`` (the better of the two on the benchmarks).
        backbone, layer, weights: the feature extractor and the one layer matched (paper: VGG-19 relu4_1,
            not offline here). Measured without attribute transfer on the first 20 faces-dev pairs
            (PCK@0.1) and the TSS sample (mean flow accuracy): efficientnet-lite0 stage5 at 448 px
            0.673 / 0.916; at 224 px 0.599 / 0.683; stage4 and stage3 at 224 px 0.451 / 0.582 and
            0.547 / 0.673; vgg16-hed relu4_1 at 224 px 0.489 / 0.712.
        size: longer side the images are processed at (``None``: as given); outputs keep input sizes.
        window: side of the correlation window P_i in feature cells (paper 9; 13 scored 0.625 / 0.845).
        beta: softmax sharpness on the L2-normalised correlation (Eq. 9; 20 scored 0.684 / 0.920, within
            the noise of 20 pairs).
        kernel_sigma: Gaussian kernel (cells) of the soft-argmax around the window's arg-max.
        fit_radius: the least-squares affine fit uses the ``(2 r + 1)^2`` neighbouring cells (1 scored
            0.640 / 0.859).
        ridge: pull of each local linear part toward the previous iteration's (per unit weight; 1.0
            scored 0.669 / 0.915).
        attribute: the attribute transfer (Eq. 5's second term, Eq. 8, decoding); ``False`` is the
            paper's "wo/Att." ablation.
        decode_iters: L-BFGS iterations of the feature inversion per recurrent iteration, warm-started
            from the image-space blend (:func:`~analogist.synthesis.blend.image_blend`). 0 by default:
            five iterations made one 448-px pair take over 3 minutes instead of a few seconds.
        decoder: how the blend B is decoded: ``blend`` (the image-space blend, feature inversion when
            ``decode_iters > 0``), ``learned`` (the droplink decoder of Eq. 10 from the checkpoint) or
            ``auto`` (the learned decoder in the learned form when its checkpoint has one).
        lambda_scale: multiplies ``lambda_l`` (Eq. 5 and 8; 1 is the paper's schedule). Measured at 10
            iterations on the first 40 faces-dev pairs (PCK@0.1) and the TSS sample: 0.5 scored 0.660 /
            0.920; 1.0 0.619 / 0.923; 0.75 0.649 / 0.919; 0.25 0.653 / 0.914; no attribute transfer
            0.645 / 0.909. The full share lets the warped target's content, warped by the current field,
            dominate the stylised source, so the match confirms itself on faces.
        skip_weight: b_h of Eq. 10 at test time, the weight of the learned decoder's source skips
            (paper 0.5).
        init: where the field starts: ``identity`` (the paper) or ``buddies`` (fitted to Neural
            Best-Buddies' mutual matches on the same backbone, :mod:`~analogist.methods.samnet_init`;
            the default). Faces-dev PCK@0.1 on pairs 0-39 (tuned) / 40-79 (held out), TSS: buddies at
            2 iterations 0.732 / 0.761, 0.928; identity at 10 iterations 0.660 / 0.693, 0.920; the
            ``buddies`` matcher alone 0.676 / 0.680, 0.903.
        refine: the finer last step (:mod:`~analogist.methods.samnet_refine`): after the loop, one
            windowed soft-argmax and affine fit on a finer grid, on the '+'-joined layers named (the
            first sets the grid; each L2-normalised), ``auto`` (the default: Lite0's stride-8 ``stage3`` with
            ``stage4`` and ``stage5`` resampled to its grid; none on other backbones) or ``''`` (off).
            Box-normalised PCK@0.1 / @0.05 on faces-dev pairs 0-19, the synthetic warps' pairs 0-9 and
            the TSS sample (benchmarks/samnet_candidates.py, where the choice was made): off 0.446 /
            0.203, 0.997 / 0.942, 0.928; stage3 alone at radius 2 0.496 / 0.271, -, 0.947;
            stage3+stage4 0.526 / 0.298, 0.994 / 0.968, 0.955; stage3+stage5 0.485 / 0.267, -, 0.958;
            stage3+stage4+stage5 0.554 / 0.306, 0.994 / 0.976, 0.960; the same at radius 3 (the default)
            0.568 / 0.336, 0.994 / 0.973, 0.954; at radius 4 0.553 / 0.337, 0.994 / 0.964, 0.940;
            HED-VGG relu4_1 + Lite0 stage5 (the two backbones fused) 0.550 / 0.306, -, 0.960 at four
            times the cost; a second step on stride-4 stage2 after stage3 0.499 / 0.286 (-: measured on an
            earlier, easier warps recipe). Confirmed on faces-dev 20-39 and 40-79 and warps 10-19:
            off 0.388, 0.473, 0.938 / 0.793; on 0.474, 0.572, 0.926 / 0.806 (see the README).
        refine_radius: the finer step's window is ``(2 r + 1)^2`` fine cells (3: 24 px either way at
            stride 8, one and a half of the matched layer's cells).
        keep_iterations: return every iteration's stylised image, flow and confidence (before the
            finer step).
        checkpoint: weights of the learned form (otherwise found like every weight file).
    """

    iters: int = 2
    form: Form = "auto"
    backbone: str = "efficientnet-lite0"
    layer: str = "stage5"
    weights: str | None = None
    size: int | None = 448
    window: int = 9
    beta: float = 50.0
    kernel_sigma: float = 1.0
    fit_radius: int = 2
    ridge: float = 0.1
    attribute: bool = True
    decode_iters: int = 0
    decoder: str = "auto"
    skip_weight: float = 0.5
    lambda_scale: float = 0.5
    init: str = "buddies"
    refine: str = "auto"
    refine_radius: int = 3
    keep_iterations: bool = False
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise InputError(f"unknown form {self.form!r}: choose one of {', '.join(FORMS)}")
        if not 1 <= self.iters <= 100:
            raise InputError(f"iterations must be in 1..100, got {self.iters}")
        if self.window < 3 or self.window % 2 == 0:
            raise InputError(f"the correlation window must be odd and at least 3, got {self.window}")
        if self.beta <= 0 or self.kernel_sigma <= 0 or self.ridge < 0 or self.fit_radius < 1:
            raise InputError("beta and kernel_sigma must be positive, ridge >= 0, fit_radius >= 1")
        if self.decoder not in DECODERS:
            raise InputError(f"unknown decoder {self.decoder!r}: choose one of {', '.join(DECODERS)}")
        if not (0 <= self.skip_weight <= 1 and 0 <= self.lambda_scale <= 1):
            raise InputError("skip_weight and lambda_scale must be in [0, 1]")
        if self.init not in INITS:
            raise InputError(f"unknown start {self.init!r}: choose one of {', '.join(INITS)}")
        if self.refine_radius < 1:
            raise InputError(f"refine_radius must be at least 1, got {self.refine_radius}")
        if self.decode_iters < 0:
            raise InputError(f"decode_iters must not be negative, got {self.decode_iters}")


#: Layer matched per backbone when none is given (see SAMNetParams.layer for the measurements).
DEFAULT_LAYERS: dict[str, str] = {
    "vgg16-hed": "relu4_1",
    "vgg16": "relu4_1",
    "vgg19": "relu4_1",
    "efficientnet-lite0": "stage5",
}


def default_layer(backbone: str) -> str:
    """The layer :func:`sam_net` matches on ``backbone`` by default."""
    return DEFAULT_LAYERS.get(backbone, "relu4_1")


__all__ = ["DECODERS", "DEFAULT_LAYERS", "FORMS", "Form", "SAMNetParams", "default_layer"]
