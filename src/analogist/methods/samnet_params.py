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
        keep_iterations: return every iteration's stylised image, flow and confidence.
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
