"""SAM-Net's parameters (:class:`SAMNetParams`) and the names of its variants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import InputError

Form = Literal["auto", "training-free", "learned"]
FORMS = ("auto", "training-free", "learned")
TRANSFERS = ("auto", "blend", "learned")
#: How the returned stylised image is drawn (:mod:`.render`).
RENDERS = ("nnst", "nnst-d", "loop")
#: Where the affine field starts (:mod:`.start`).
INITS = ("identity", "buddies")
#: How the best buddies are made dense for the start (:func:`~analogist.matching.mls.dense_flow`).
START_KINDS = ("rigid", "similarity", "affine")


@dataclass(frozen=True)
class SAMNetParams:
    """Parameters of :func:`~analogist.methods.samnet.sam_net`; the paper's where it gives them.

    How each measured default was chosen, with its figures: ``docs/samnet.md``.

    Attributes:
        iters: recurrent iterations L (paper: 10 at test time; 2 from the buddies' start).
        form: ``"training-free"`` (least-squares G), ``"learned"`` (the networks of Fig. 3) or ``"auto"``.
        backbone: the feature extractor (paper: VGG-19, not offline here).
        layer: the one layer matched (paper: relu4_1).
        weights: explicit weight file of the backbone, or ``None`` (looked up).
        size: longer side the images are processed at (``None``: as given); outputs keep the input sizes.
        window: side of the correlation window P_i in feature cells (paper: 9).
        beta: softmax sharpness on the L2-normalised correlation (Eq. 9).
        kernel_sigma: Gaussian kernel (cells) of the soft-argmax around the window's arg-max.
        fit_radius: the least-squares affine fit uses the ``(2 r + 1)^2`` neighbouring cells.
        ridge: pull of each local linear part toward the previous iteration's (per unit weight).
        attribute: the attribute transfer (Eq. 5's second term, Eq. 8); ``False`` is the paper's "wo/Att.".
        invert_iters: L-BFGS iterations of feature inversion per iteration, warm-started from the blend.
        transfer: how the blend becomes the stylised image: ``"blend"``, ``"learned"`` (Eq. 10) or ``"auto"``.
        skip_weight: b_h of Eq. 10 at test time, the weight of the learned decoder's source skips.
        lambda_scale: multiplies ``lambda_l`` of Eq. 5 and 8 (1: the paper's schedule).
        init: where the field starts: ``"identity"`` (the paper) or ``"buddies"`` (:mod:`.start`).
        refine: layers of the finer last step (:mod:`.refine`: ``'+'``-joined, ``name*weight``), ``"auto"``
            or ``""`` (off).
        refine_radius: the finer step's window is ``(2 r + 1)^2`` fine cells.
        refine_fit_radius: the finer step's affine fit uses the ``(2 r + 1)^2`` neighbouring fine cells.
        refine_prior: the finer step's Gaussian prior on a match's move, in fine cells (0: none).
        start_kind: the moving least squares that make the best buddies dense for the start (``"rigid"``,
            ``"similarity"`` or ``"affine"``, the kind before the fold-aware fit).
        fold_rounds: refits of each fit where its map folds (:mod:`.fold_fit`); 0: the plain fit.
        refine_smooth: fit radius of the smoother fine fit the finer step leans on where it folds.
        render: the returned stylised image: ``"nnst"`` (NNST-Opt guided by the flow), ``"nnst-d"`` or ``"loop"``.
        render_guide: weight of the flow's guidance in that rendering (NNST's ``w_guide``).
        keep_iterations: return every iteration's stylised image, flow and confidence.
        checkpoint: weights of the learned form (``None``: looked up like every weight file).
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
    invert_iters: int = 0
    transfer: str = "auto"
    skip_weight: float = 0.5
    lambda_scale: float = 0.5
    init: str = "buddies"
    refine: str = "auto"
    refine_radius: int = 3
    refine_fit_radius: int = 1
    refine_prior: float = 2.5
    start_kind: str = "rigid"
    fold_rounds: int = 6
    refine_smooth: int = 6
    render: str = "nnst"
    render_guide: float = 0.03
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
        if self.transfer not in TRANSFERS:
            raise InputError(f"unknown transfer {self.transfer!r}: choose one of {', '.join(TRANSFERS)}")
        if not (0 <= self.skip_weight <= 1 and 0 <= self.lambda_scale <= 1):
            raise InputError("skip_weight and lambda_scale must be in [0, 1]")
        if self.init not in INITS:
            raise InputError(f"unknown start {self.init!r}: choose one of {', '.join(INITS)}")
        if self.refine_radius < 1 or self.refine_fit_radius < 1 or self.refine_prior < 0:
            raise InputError("refine_radius and refine_fit_radius must be at least 1, refine_prior >= 0")
        if self.start_kind not in START_KINDS or self.fold_rounds < 0 or self.refine_smooth < 0:
            raise InputError(f"start_kind must be one of {', '.join(START_KINDS)}; fold_rounds, refine_smooth >= 0")
        if self.render not in RENDERS or self.render_guide < 0:
            raise InputError(f"render must be one of {', '.join(RENDERS)} and render_guide >= 0")
        if self.invert_iters < 0:
            raise InputError(f"invert_iters must not be negative, got {self.invert_iters}")


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


__all__ = ["RENDERS", "TRANSFERS", "DEFAULT_LAYERS", "FORMS", "Form", "SAMNetParams", "default_layer"]
