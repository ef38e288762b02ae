"""Deep Image Analogy (Liao, Yao, Yuan, Hua, Kang; SIGGRAPH 2017): Algorithm 1.

Given A (content) and B' (style), builds the latent A' (structure of A, appearance of B') and B
(structure of B', appearance of A) together with both dense correspondences, coarse to fine over a
VGG feature pyramid: bidirectional NNF search (Eq. 2), then latent feature reconstruction one level
down by warping, deconvolution (Eq. 5) and weight-map blending (Eq. 4-6).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import torch

from ..errors import InputError
from ..features import INPUT, Backbone, get_backbone
from ..io import check_image, resize_longer
from ..matching import nnf as nnfs
from ..matching.flow import nnf_to_flow
from ..progress import Progress, silent
from ..synthesis.deconv import deconvolve
from ..synthesis.filters import wls_filter
from ..synthesis.warp import vote

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


def weight_map(feat: torch.Tensor, alpha: float, params: AnalogyParams) -> torch.Tensor:
    """``W = alpha * M`` ``(1, 1, h, w)`` from features ``(1, C, h, w)``: M thresholds the min-max
    normalised squared norm (step at tau, or the paper's sigmoid with slope kappa)."""
    n = feat.pow(2).sum(1, keepdim=True)
    n = (n - n.min()) / (n.max() - n.min()).clamp_min(1e-12)
    if params.weight_map == "step":
        m = (n > params.tau).float()
    else:
        m = torch.sigmoid(params.kappa * (n - params.tau))
    return (alpha * m).clamp(0.0, 1.0)


def _prepare(image: torch.Tensor, name: str, size: int | None) -> torch.Tensor:
    check_image(image, name, min_side=16)
    return resize_longer(image.float().clamp(0, 1), size)


def _semantic_guide(
    a: torch.Tensor, bp: torch.Tensor, shape_a: tuple[int, int], shape_b: tuple[int, int], params: AnalogyParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both coarsest-level NNFs seeded by the semantic backbone: ``(2, ha, wa)`` A->B', ``(2, hb, wb)`` B'->A."""
    net = get_backbone(params.match_backbone, device=a.device)  # type: ignore[arg-type]
    layer = net.check_layer(params.match_layer or GUIDE_LAYERS.get(net.name, net.default_layers[-1]))
    if params.match_size is not None:
        a, bp = (
            resize_longer(a, min(params.match_size, max(a.shape[-2:]))),
            resize_longer(bp, min(params.match_size, max(bp.shape[-2:]))),
        )
    fa = nnfs.normalize(net.extract(a, [layer])[layer])
    fb = nnfs.normalize(net.extract(bp, [layer])[layer])
    p = params.patch_sizes[0]
    # the same coherence prior as the coarsest VGG level: the guide's scattered cells would be kept
    # by the narrow search around it
    ab, ba = _coherent_pair(fa, fb, p, None, None, None, params)
    return (
        nnfs.upsample_nnf(ab, tuple(fb.shape[-2:]), shape_a, shape_b),
        nnfs.upsample_nnf(ba, tuple(fa.shape[-2:]), shape_b, shape_a),
    )


def deep_image_analogy(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    params: AnalogyParams = AnalogyParams(),
    *,
    progress: Progress = silent,
) -> AnalogyResult:
    """Deep Image Analogy between A ``(1, 3, Ha, Wa)`` and B' ``(1, 3, Hb, Wb)`` RGB in [0, 1].

    The two images may differ in size and aspect ratio. Returns A', B and both flows at the input
    sizes (see :class:`AnalogyResult`).
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    full_a, full_b = image_a, image_b
    a = _prepare(image_a, "image A", params.size)
    bp = _prepare(image_b, "image B'", params.size)
    # the method follows its inputs' device; random candidates come from a CPU generator (one seed, one result)
    net: Backbone = get_backbone(params.backbone, params.weights, device=image_a.device)
    bp = bp.to(a.device)
    layers = list(params.layers)
    net.check_layers(layers)
    need = [*layers] + ([INPUT] if params.deconv_depth == "authors" else [])
    # F_A and F_B' at every level; F_A' and F_B start equal to them at the coarsest level
    fa = net.extract(a, need)
    fbp = net.extract(bp, need)
    if params.deconv_depth == "authors":
        fa[INPUT], fbp[INPUT] = net.preprocess(a), net.preprocess(bp)
    fap = {layers[0]: fa[layers[0]]}
    fb = {layers[0]: fbp[layers[0]]}
    timings["features"] = time.perf_counter() - t0

    guide_ab = guide_ba = None
    if params.match_backbone:
        t = time.perf_counter()
        shp_a, shp_b = tuple(fa[layers[0]].shape[-2:]), tuple(fbp[layers[0]].shape[-2:])
        guide_ab, guide_ba = _semantic_guide(a, bp, shp_a, shp_b, params)
        timings["semantic_match"] = time.perf_counter() - t

    gen = torch.Generator().manual_seed(params.seed)
    nnf_ab = nnf_ba = None
    for i in progress(range(len(layers)), total=len(layers), desc="deep image analogy"):
        name, patch, radius = layers[i], params.patch_sizes[i], params.radii[i]
        t = time.perf_counter()
        qa = torch.cat([nnfs.normalize(fa[name]), nnfs.normalize(fap[name])], 1)
        qb = torch.cat([nnfs.normalize(fb[name]), nnfs.normalize(fbp[name])], 1)
        if i == 0:
            if guide_ab is not None:
                g_ab, g_ba, radius = guide_ab, guide_ba, params.match_radius
            else:
                g_ab = g_ba = None
        else:
            prev = layers[i - 1]
            sa, sb = tuple(fa[name].shape[-2:]), tuple(fbp[name].shape[-2:])
            g_ab = nnfs.upsample_nnf(nnf_ab, tuple(fbp[prev].shape[-2:]), sa, sb)
            g_ba = nnfs.upsample_nnf(nnf_ba, tuple(fa[prev].shape[-2:]), sb, sa)
        if (
            i < params.coherent_levels
            and (params.coherence > 0 or params.consistency > 0)
            and nnfs.exact_cost(tuple(qa.shape), tuple(qb.shape), patch) <= nnfs.EXACT_BUDGET
        ):
            nnf_ab, nnf_ba = _coherent_pair(qa, qb, patch, g_ab, g_ba, radius, params)
        else:
            kw = dict(iters=params.pm_iters, dims=params.pm_dims, generator=gen)
            nnf_ab, _ = nnfs.search(qa, qb, patch, guide=g_ab, radius=radius, **kw)
            nnf_ba, _ = nnfs.search(qb, qa, patch, guide=g_ba, radius=radius, **kw)
        timings[f"match_{name}"] = time.perf_counter() - t
        if i == len(layers) - 1:
            break
        # latent reconstruction of the next finer level (Eq. 4-6), symmetric for A' and B
        t = time.perf_counter()
        nxt = layers[i + 1]
        alpha = params.alphas[i] + params.offset
        fap[nxt] = _reconstruct(net, fbp, fa, nnf_ab, name, nxt, patch, alpha, layers, params)
        fb[nxt] = _reconstruct(net, fa, fbp, nnf_ba, name, nxt, patch, alpha, layers, params)
        timings[f"deconv_{nxt}"] = time.perf_counter() - t

    t = time.perf_counter()
    nnf_ab, nnf_ba = _to_full(nnf_ab, nnf_ba, a, bp, full_a, full_b)
    a_prime = vote(full_b.float(), nnf_ab, params.vote_patch).clamp(0, 1)
    b = vote(full_a.float(), nnf_ba, params.vote_patch).clamp(0, 1)
    timings["vote"] = time.perf_counter() - t
    if params.mode == "photo2photo":
        t = time.perf_counter()
        a_prime = refine_photo(a_prime, full_a.float(), params)
        b = refine_photo(b, full_b.float(), params)
        timings["wls"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return AnalogyResult(a_prime, b, nnf_to_flow(nnf_ab), nnf_to_flow(nnf_ba), timings)


def _coherent(
    cost: torch.Tensor, fa: torch.Tensor, fb: torch.Tensor, params: AnalogyParams, partner: torch.Tensor | None = None
) -> torch.Tensor:
    """NNF ``(2, ha, wa)`` of a coherent level from the patch costs ``(ha*wa, hb*wb)`` of ``fa`` against
    ``fb`` plus the coherence prior and, given the opposite NNF ``partner`` ``(2, hb, wb)``, the
    consistency prior (see AnalogyParams)."""
    if partner is not None and params.consistency > 0:
        cost = nnfs.consistency_cost(cost, partner, tuple(fa.shape[-2:]), params.consistency, params.consistency_trunc)
    return nnfs.coherent_nnf(
        cost, tuple(fa.shape[-2:]), tuple(fb.shape[-2:]), params.coherence, trunc=params.coherence_trunc
    )


def _coherent_pair(
    fa: torch.Tensor,
    fb: torch.Tensor,
    patch: int,
    guide_ab: torch.Tensor | None,
    guide_ba: torch.Tensor | None,
    radius: int | None,
    params: AnalogyParams,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both NNFs of one of the ``coherent_levels`` (or of the semantic guide): A -> B', then B' -> A
    consistent with it, then A -> B' again consistent with that (so that neither direction is
    privileged). The window ``guide +- radius`` applies only where a guide is given."""
    cost_ab = nnfs.cost_volume(fa, fb, patch, guide=guide_ab, radius=radius)
    cost_ba = nnfs.cost_volume(fb, fa, patch, guide=guide_ba, radius=radius)
    ab = _coherent(cost_ab, fa, fb, params)
    ba = _coherent(cost_ba, fb, fa, params, partner=ab)
    if params.consistency > 0:
        ab = _coherent(cost_ab, fa, fb, params, partner=ba)
    return ab, ba


def _reconstruct(
    net: Backbone,
    src: dict[str, torch.Tensor],
    own: dict[str, torch.Tensor],
    nnf: torch.Tensor,
    level: str,
    nxt: str,
    patch: int,
    alpha: float,
    layers: list[str],
    params: AnalogyParams,
) -> torch.Tensor:
    """Latent features at ``nxt`` ``(1, C, h, w)``: blend of ``own[nxt]`` and the deconvolved warp of
    ``src[level]`` through ``nnf`` (``src`` is B' for A', A for B)."""
    target = vote(src[level], nnf, patch)
    if params.deconv_depth == "authors":
        start = net.previous(nxt, [*layers, INPUT])
    else:
        start = nxt
    # warm start: the finer source features voted through the nearest-upsampled NNF
    s_shape = tuple(own[start].shape[-2:])
    up = nnfs.upsample_nnf(nnf, tuple(src[level].shape[-2:]), s_shape, tuple(src[start].shape[-2:]))
    init = vote(src[start], up, patch)
    x = deconvolve(net.subnet(start, level), target, init, params.lbfgs_iters, history=params.lbfgs_history)
    rec = x if start == nxt else net.subnet(start, nxt)(x).detach()
    w = weight_map(own[nxt], alpha, params)
    return own[nxt] * w + rec * (1 - w)


def _to_full(
    nnf_ab: torch.Tensor,
    nnf_ba: torch.Tensor,
    a: torch.Tensor,
    bp: torch.Tensor,
    full_a: torch.Tensor,
    full_b: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring the finest NNFs (at the working resolution) to the input resolutions."""
    wa, wb = tuple(a.shape[-2:]), tuple(bp.shape[-2:])
    fa, fb = tuple(full_a.shape[-2:]), tuple(full_b.shape[-2:])
    if tuple(nnf_ab.shape[-2:]) != fa or wb != fb:
        nnf_ab = nnfs.upsample_nnf(nnf_ab, wb, fa, fb)
    if tuple(nnf_ba.shape[-2:]) != fb or wa != fa:
        nnf_ba = nnfs.upsample_nnf(nnf_ba, wa, fb, fa)
    return nnf_ab, nnf_ba


def refine_photo(out: torch.Tensor, content: torch.Tensor, params: AnalogyParams) -> torch.Tensor:
    """Eq. 7: ``WLS(A', A) + A - WLS(A, A)``: colours of A' with the fine detail of A ``(1, 3, H, W)``."""
    smooth_out = wls_filter(out, content, lam=params.wls_lambda, alpha=params.wls_alpha)
    smooth_in = wls_filter(content, content, lam=params.wls_lambda, alpha=params.wls_alpha)
    return (smooth_out + content - smooth_in).clamp(0, 1)


__all__ = ["AnalogyParams", "AnalogyResult", "MODE_OFFSETS", "deep_image_analogy", "weight_map", "refine_photo"]
