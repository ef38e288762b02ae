"""Deep Image Analogy (Liao, Yao, Yuan, Hua, Kang; SIGGRAPH 2017): Algorithm 1.

Given A (content) and B' (style), builds the latent A' (structure of A, appearance of B') and B
(structure of B', appearance of A) together with both dense correspondences, coarse to fine over a
VGG feature pyramid: bidirectional NNF search (Eq. 2), then latent feature reconstruction one level
down by warping, deconvolution (Eq. 5) and weight-map blending (Eq. 4-6).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from ...features import INPUT, Backbone, get_backbone
from ...io import check_image, resize_longer
from ...matching import nnf as nnfs
from ...matching.flow import nnf_to_flow
from ...progress import Progress, silent
from ...synthesis.deconv import deconvolve
from ...synthesis.filters import wls_filter
from ...synthesis.warp import vote
from .params import GUIDE_LAYERS, AnalogyParams, AnalogyResult


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


def _guide_features(
    a: torch.Tensor, bp: torch.Tensor, grids: dict[str, tuple[tuple[int, int], tuple[int, int]]], params: AnalogyParams
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The semantic backbone's unit features of A and B' ``(1, C, h, w)`` on every level's grids
    ``{level: (grid of A, grid of B')}``, times ``guide_weight``: each level takes the backbone layer
    nearest its resolution. Not in the paper: VGG alone (HED's weights here) matches every flat region
    to every other, so a face's cheeks and a background end up anywhere alike."""
    net = get_backbone(params.match_backbone, device=a.device)  # type: ignore[arg-type]
    width = a.shape[-1]
    # the layer of the stride nearest each level's; the network then runs only as deep as they need
    layer = {
        level: min(net.default_layers, key=lambda n: abs(math.log(net.stride(n) * grid_a[1] / width)))
        for level, (grid_a, _) in grids.items()
    }
    needed = sorted(set(layer.values()), key=list(net.default_layers).index)
    fa, fb = net.extract(a, needed), net.extract(bp, needed)
    out = {}
    for level, (grid_a, grid_b) in grids.items():
        pair = []
        for f, grid in ((fa[layer[level]], grid_a), (fb[layer[level]], grid_b)):
            if tuple(f.shape[-2:]) != grid:
                f = F.interpolate(f, size=grid, mode="bilinear", align_corners=False)
            pair.append(params.guide_weight * nnfs.normalize(f))
        out[level] = (pair[0], pair[1])
    return out


def deep_image_analogy(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    params: AnalogyParams | None = None,
    *,
    progress: Progress = silent,
) -> AnalogyResult:
    """Deep Image Analogy between A ``(1, 3, Ha, Wa)`` and B' ``(1, 3, Hb, Wb)`` RGB in [0, 1].

    The two images may differ in size and aspect ratio. Returns A', B and both flows at the input
    sizes (see :class:`AnalogyResult`).
    """
    params = params or AnalogyParams()
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
    guides: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if params.match_backbone:
        t = time.perf_counter()
        shp_a, shp_b = tuple(fa[layers[0]].shape[-2:]), tuple(fbp[layers[0]].shape[-2:])
        guide_ab, guide_ba = _semantic_guide(a, bp, shp_a, shp_b, params)
        if params.guide_weight > 0:
            grids = {n: (tuple(fa[n].shape[-2:]), tuple(fbp[n].shape[-2:])) for n in layers}
            guides = _guide_features(a, bp, grids, params)  # type: ignore[arg-type]
        timings["semantic_match"] = time.perf_counter() - t

    gen = torch.Generator().manual_seed(params.seed)
    nnf_ab = nnf_ba = None
    for i in progress(range(len(layers)), total=len(layers), desc="deep image analogy"):
        name, patch, radius = layers[i], params.patch_sizes[i], params.radii[i]
        t = time.perf_counter()
        qa = torch.cat([nnfs.normalize(fa[name]), nnfs.normalize(fap[name]), *guides.get(name, ())[:1]], 1)
        qb = torch.cat([nnfs.normalize(fb[name]), nnfs.normalize(fbp[name]), *guides.get(name, ())[1:]], 1)
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
