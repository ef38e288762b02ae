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

    Attributes:
        layers: pyramid L = 5..1 (relu5_1 ... relu1_1).
        patch_sizes: NNF patch side per layer (3 at the three coarse layers, 5 at the two fine ones).
        radii: PatchMatch search radius around the upsampled NNF per layer; ``None`` = global
            (the coarsest layer is searched exhaustively).
        alphas: blending weights alpha for the reconstructed layers 4..1.
        weight_offset: added to every alpha (``None`` = the preset of ``mode``, see MODE_OFFSETS).
        kappa, tau: the weight map's sigmoid ``M = 1 / (1 + exp(-kappa (|F|^2 - tau)))``.
        weight_map: ``"step"`` (authors' code: ``M = |F|^2 > tau``) or ``"sigmoid"`` (paper).
        lbfgs_iters, lbfgs_history: L-BFGS budget per deconvolution (warm started).
        deconv_depth: ``"paper"`` optimises layer L-1 through one block; ``"authors"`` optimises
            two layers down (L-2) and reads L-1 from the forward pass, as the authors' code does.
        pm_iters: PatchMatch iterations where exact search is too costly.
        pm_dims: PatchMatch compares this many principal components of the (concatenated,
            normalised) features; ``None`` compares all channels (slower, see the benchmark).
        vote_patch: patch side of the final pixel voting (authors 3, paper 5).
        backbone: reconstruction and fine-matching network (``vgg16-hed`` offline; ``vgg19`` if present).
        match_backbone, match_layer, match_radius: semantic network for the coarsest match: its NNF
            (exact search with the coherence and consistency priors on ``match_layer``) seeds the
            coarsest VGG layer, which is then searched only within ``match_radius`` of it.
            ``None`` = VGG alone, as in the paper. The offline VGG is HED's edge fine-tune: its
            relu5_1 cannot tell a photo's dark hair from a cartoon's white background (both
            "no edge"), which put whole blocks of background into A''s hair on the paper's own
            portrait pair. Default ``"efficientnet-lite0"`` at ``stage5`` (stride 16, the relu5_1
            grid; ``stage7``, stride 32, was too coarse for hair): TSS sample 0.847 at 224 px,
            VGG alone 0.760 with the priors below, 0.656 without (benchmarks/analogy.py tss).
            ``match_layer=None`` takes the guide's entry in :data:`GUIDE_LAYERS`, else its last
            default layer (``tokens`` for the DINOv2 backbones, stride 14, unmeasured here).
        coherent_levels: how many of the coarsest levels are solved exactly with the coherence and
            consistency priors where an exact search fits ``nnfs.EXACT_BUDGET`` (PatchMatch
            otherwise). Two (relu5_1 and relu4_1, which fits up to about 320 px) also remove cells
            that relu4_1's PatchMatch keeps from the reconstructed features: TSS sample 0.847 at
            224 px against 0.784 with one level. At 448 px relu4_1 would cost 13-17 s more per pair
            for no visible gain, so it stays with PatchMatch there.
        match_size: longer side the semantic match is computed at (``None`` = ``size``). Its
            3x3 patches must see a face-sized context: at 448 px a stride-16 cell is half as
            large a part of the object as at 224 px, and the coarse match broke into 16-px
            blocks of unrelated places (skin in hair, background in the face) that the finer
            levels then keep. Computed at 224 px and upsampled, it gives 448-px results as clean
            as 224-px ones.
        coherence, coherence_trunc: not in the paper. Weight of a prior at the ``coherent_levels``
            that asks neighbouring cells for the same displacement (per neighbour and cell of
            difference, truncated at ``coherence_trunc`` cells; best-match patch costs are about 1). The
            exact nearest neighbours of flat regions (hair, skin, background) scatter isolated cells
            into unrelated places, and the latent reconstruction locks every such cell in down to
            the pixels (the 16-px blocks of A' at 448 px); the authors' PatchMatch, started from the
            identity, avoids many of them by its propagation. Applied where such a level is searched
            exactly (relu5_1 up to ~640 px, relu4_1 up to ~320 px); 0 = the exact nearest neighbours.
        consistency, consistency_trunc: not in the paper. At the same levels, the reverse NNF
            B' -> A pays ``consistency`` per cell (up to ``consistency_trunc`` cells) by which the
            forward NNF sends a candidate away from the query: flat regions of B' (a cartoon's
            hair) then follow where A's matching regions went instead of scattering over A's flat
            skin and background (the patchwork B). 0 = independent directions.
        size: longer side the images are processed at (``None`` = as given); outputs keep the
            input sizes (the final NNFs are upsampled and voted at full resolution).
        mode: application preset (photo2style, style2style, style2photo, photo2photo).
        wls_lambda, wls_alpha: WLS filter of the photo2photo refinement (Eq. 7).
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
