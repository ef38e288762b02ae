"""Parameters and result of Deep Image Analogy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from ...errors import InputError

Mode = Literal["photo2style", "style2style", "style2photo", "photo2photo"]


#: Global offset of the alphas per mode (the authors' "weight" presets 1/2/3 are -0.1/0/+0.1):
#: a photo-realistic A' (style2photo) takes more of B'; photo2photo keeps more of A's structure,
#: since its colours are then fixed by the WLS refinement anyway.
MODE_OFFSETS: dict[str, float] = {"photo2style": 0.0, "style2style": 0.0, "style2photo": -0.1, "photo2photo": 0.1}


#: The layer a semantic guide backbone matches on (``stage5``: the relu5_1 grid, see AnalogyParams);
#: a backbone not listed uses its last default layer.
GUIDE_LAYERS: dict[str, str] = {"efficientnet-lite0": "stage5"}


@dataclass(frozen=True)
class AnalogyParams:
    """The paper's parameters (Section 4 and 5), named after its symbols; per-layer tables coarse to fine.

    Why each default, with its figures: ``docs/analogy.md``.

    Attributes:
        layers: pyramid L = 5..1 (relu5_1 ... relu1_1).
        patch_sizes: NNF patch side per layer.
        radii: PatchMatch search radius around the upsampled NNF per layer (``None``: global).
        alphas: blending weights alpha of the reconstructed layers 4..1.
        weight_offset: added to every alpha (``None``: the preset of ``mode``, :data:`MODE_OFFSETS`).
        kappa: slope of the weight map's sigmoid.
        tau: threshold of the weight map on the normalised ``|F|^2``.
        weight_map: ``"step"`` (the authors' code) or ``"sigmoid"`` (the paper).
        lbfgs_iters: L-BFGS iterations per deconvolution (warm started).
        lbfgs_history: L-BFGS history length.
        deconv_depth: ``"paper"`` (one block) or ``"authors"`` (two layers down, as their code).
        pm_iters: PatchMatch iterations where an exact search is too costly.
        pm_dims: principal components PatchMatch compares (``None``: every channel).
        vote_patch: patch side of the final pixel voting (authors 3, paper 5).
        backbone: reconstruction and fine-matching network.
        weights: explicit weight file of the backbone, or ``None`` (looked up).
        match_backbone: semantic network whose NNF seeds the coarsest level (``None``: VGG alone, the paper).
        match_layer: its layer (``None``: its entry in :data:`GUIDE_LAYERS`, else its last default layer).
        match_radius: the coarsest VGG level is searched within this radius of the semantic match.
        guide_weight: weight of the semantic backbone's own features in every level's match, beside
            VGG's (each level takes its layer of the nearest resolution; 0: it only seeds the coarsest).
        coherent_levels: coarsest levels solved exactly with the coherence and consistency priors.
        match_size: longer side the semantic match is computed at (``None``: ``size``).
        coherence: weight of the prior asking neighbouring cells for the same displacement (not in the paper).
        coherence_trunc: its truncation, in cells.
        consistency: weight of the prior tying the reverse NNF to the forward one (not in the paper).
        consistency_trunc: its truncation, in cells.
        size: longer side the images are processed at (``None``: as given); outputs keep the input sizes.
        mode: application preset (photo2style, style2style, style2photo, photo2photo).
        wls_lambda: lambda of the photo2photo refinement's WLS filter (Eq. 7).
        wls_alpha: alpha of that filter.
        seed: PatchMatch random search seed.
    """

    layers: tuple[str, ...] = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")
    patch_sizes: tuple[int, ...] = (3, 3, 3, 5, 5)
    radii: tuple[int | None, ...] = (None, 6, 6, 4, 4)
    alphas: tuple[float, ...] = (0.8, 0.7, 0.6, 0.1)
    weight_offset: float | None = None
    kappa: float = 300.0
    tau: float = 0.05
    weight_map: Literal["step", "sigmoid"] = "step"
    lbfgs_iters: int = 10
    lbfgs_history: int = 4
    deconv_depth: Literal["paper", "authors"] = "paper"
    pm_iters: int = 3
    pm_dims: int | None = 32
    vote_patch: int = 3
    backbone: str = "vgg16-hed"
    weights: str | None = None
    match_backbone: str | None = "efficientnet-lite0"
    match_layer: str | None = None
    match_radius: int = 2
    guide_weight: float = 0.5
    match_size: int | None = 224
    coherent_levels: int = 2
    coherence: float = 0.05
    coherence_trunc: float = 2.0
    consistency: float = 0.1
    consistency_trunc: float = 3.0
    size: int | None = 448
    mode: Mode = "photo2style"
    wls_lambda: float = 0.8
    wls_alpha: float = 1.2
    seed: int = 0

    def __post_init__(self) -> None:
        n = len(self.layers)
        if not (len(self.patch_sizes) == len(self.radii) == n and len(self.alphas) == n - 1):
            raise InputError("AnalogyParams: layers, patch_sizes, radii need one entry per layer, alphas one fewer")
        if self.mode not in MODE_OFFSETS:
            raise InputError(f"unknown mode {self.mode!r}: choose one of {', '.join(MODE_OFFSETS)}")
        if self.weight_map not in ("step", "sigmoid"):
            raise InputError(f"weight_map must be 'step' or 'sigmoid', got {self.weight_map!r}")
        if self.deconv_depth not in ("paper", "authors"):
            raise InputError(f"deconv_depth must be 'paper' or 'authors', got {self.deconv_depth!r}")
        if any(p % 2 == 0 or p < 1 for p in (*self.patch_sizes, self.vote_patch)):
            raise InputError("patch sizes must be odd and positive")
        if self.weight_offset is not None and not -1.0 <= self.weight_offset <= 1.0:
            raise InputError(f"weight offset must be in [-1, 1], got {self.weight_offset}")
        if min(self.coherence, self.consistency) < 0 or min(self.coherence_trunc, self.consistency_trunc) <= 0:
            raise InputError("coherence and consistency must be >= 0, their truncations > 0")
        if self.guide_weight < 0:
            raise InputError(f"guide_weight must not be negative, got {self.guide_weight}")
        if self.coherent_levels < 0:
            raise InputError(f"coherent_levels must not be negative, got {self.coherent_levels}")
        if self.match_size is not None and self.match_size < 32:
            raise InputError(f"match_size must be at least 32 px, got {self.match_size}")
        if self.lbfgs_iters < 0 or self.pm_iters < 0:
            raise InputError("iteration counts must not be negative")

    @property
    def offset(self) -> float:
        return MODE_OFFSETS[self.mode] if self.weight_offset is None else self.weight_offset


@dataclass
class AnalogyResult:
    """Outputs of :func:`deep_image_analogy`.

    a_prime: ``(1, 3, Ha, Wa)`` A'; b: ``(1, 3, Hb, Wb)`` B; flow_ab: ``(2, Ha, Wa)`` float pixel flow
    A -> B' (= A' -> B); flow_ba: ``(2, Hb, Wb)`` B' -> A; timings: seconds per stage.
    """

    a_prime: torch.Tensor
    b: torch.Tensor
    flow_ab: torch.Tensor
    flow_ba: torch.Tensor
    timings: dict[str, float] = field(default_factory=dict)
