"""Neural Best-Buddies: sparse cross-domain correspondence (Aberman, Liao, Shi, Lischinski, Chen, Cohen-Or,
SIGGRAPH 2018), Algorithm 1.

>>> result = neural_best_buddies(image_a, image_b, BuddiesParams(k=10))
>>> result.points[result.top_k]      # (k, 4) = (xa, ya, xb, yb) in the given images' pixels

Coarse to fine over a feature pyramid: best buddies (mutual nearest neighbours of Eq. 1-3 over the
common-appearance features of Eq. 4-6) are searched inside region pairs, filtered by activation
(Eq. 7-8), and each kept pair becomes a small region pair at the next finer level (Eq. 9-10). The
pairs that survive to the finest level are ranked by accumulated activation (Eq. 11) and spread by
k-means. Each level is one batched computation over all its region pairs
(:mod:`analogist.matching.buddies`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    pass

from ...errors import InputError
from ...features import Backbone, get_backbone
from ...io import check_image, resize_longer
from ...matching import buddies as nbb
from ...matching.pairs import pairs_flow, spread_top_k, unique_pairs
from ...progress import Progress, silent
from ...synthesis.deconv import deconvolve
from ...synthesis.warp import backward_warp
from .params import COMMON_APPEARANCES, BuddiesLevel, BuddiesParams, BuddiesResult, _to_image


def authors_common_appearance(
    backbone: Backbone,
    fine: str,
    coarse: str,
    feat_fine: torch.Tensor,
    coarse_shape: tuple[int, int],
    other_fine: torch.Tensor,
    other_coarse: torch.Tensor,
    points: torch.Tensor,
    iters: int,
) -> torch.Tensor:
    """The authors' common appearance of one image at level ``fine``: its features averaged with the
    other image's features brought into its layout.

    The other image's ``coarse`` features are warped through the pairs found at ``coarse`` (nearest
    pair's displacement, :func:`analogist.matching.pairs.pairs_flow`) and inverted through the
    backbone block between the two layers; the inversion starts from the other image's ``fine``
    features warped by the same displacements (twice as long), so that a few iterations suffice.

    Args:
        feat_fine: ``(1, C, h, w)`` this image at ``fine``; coarse_shape: ``(h2, w2)`` of its map at
            ``coarse``; other_fine ``(1, C, h', w')`` and other_coarse ``(1, C2, h2', w2')``: the other
            image.
        points: ``(M, 4)`` integer pairs at ``coarse``, this image's ``(y, x)`` first, ``M >= 1``.

    Returns:
        ``(1, C, h, w)``.
    """
    flow = pairs_flow(points, coarse_shape)
    target = backward_warp(other_coarse, flow, mode="nearest")
    flow_fine = torch.nn.functional.interpolate(flow[None], size=tuple(feat_fine.shape[-2:]), mode="nearest")[0] * 2
    init = backward_warp(other_fine, flow_fine, mode="nearest")
    inverted = deconvolve(backbone.subnet(fine, coarse), target, init, iters)
    return (feat_fine + inverted) / 2


def check_params(params: BuddiesParams, backbone: Backbone) -> tuple[str, ...]:
    """The pyramid layers (shallow to deep) after checking the level tables against them."""
    layers = tuple(backbone.check_layers(params.layers or backbone.default_layers))
    n = len(layers)
    if n < 2:
        raise InputError(
            f"Neural Best-Buddies needs at least two pyramid layers that halve the resolution level by "
            f"level; {backbone.name} gives {', '.join(layers)}"
        )
    if len(params.neighbourhood) != n or len(params.radius) != n - 1:
        raise InputError(
            f"{n} layers need {n} neighbourhood sizes and {n - 1} radii, got "
            f"{len(params.neighbourhood)} and {len(params.radius)}"
        )
    if any(p < 1 or p % 2 == 0 for p in params.neighbourhood):
        raise InputError("neighbourhood sizes must be odd and positive")
    if any(r < 0 for r in params.radius):
        raise InputError("radii must be non-negative")
    if not 0.0 <= params.gamma < 1.0:
        raise InputError(f"gamma must be in [0, 1), got {params.gamma}")
    if params.min_start_extent < 0:
        raise InputError(f"min_start_extent must be non-negative, got {params.min_start_extent}")
    if params.common_appearance not in COMMON_APPEARANCES:
        raise InputError(
            f"common_appearance must be one of {', '.join(COMMON_APPEARANCES)}, got {params.common_appearance!r}"
        )
    if params.deconv_iters < 0:
        raise InputError(f"deconv_iters must be non-negative, got {params.deconv_iters}")
    if params.k < 0:
        raise InputError(f"k must be non-negative, got {params.k}")
    strides = [backbone.stride(name) for name in layers]
    if any(b != 2 * a for a, b in zip(strides, strides[1:])):
        raise InputError(
            f"layers {', '.join(layers)} of {backbone.name} do not halve the resolution level "
            f"by level (strides {strides}); Neural Best-Buddies refines by factors of two"
        )
    return layers


def start_level(params: BuddiesParams, shapes_a: list[tuple[int, int]], shapes_b: list[tuple[int, int]]) -> int:
    """Index (coarsest first) of the level the search starts at: the coarsest whose interior, in both
    images, is at least ``min_start_extent`` neighbourhoods wide along its shorter side.

    Args:
        shapes_a, shapes_b: ``(h, w)`` of each level's map, coarsest first.

    Raises:
        InputError: when not even the finest level qualifies (an image of a few pixels).
    """
    for i, patch in enumerate(params.neighbourhood):
        interior = min(min(shapes_a[i]), min(shapes_b[i])) - 2 * (patch // 2)
        if interior >= params.min_start_extent * patch:
            return i
    raise InputError(
        f"the images are too small for Neural Best-Buddies: the finest feature maps {shapes_a[-1]} "
        f"and {shapes_b[-1]} have no room for a {params.neighbourhood[-1]}x{params.neighbourhood[-1]} "
        "neighbourhood search"
    )


def neural_best_buddies(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    params: BuddiesParams | None = None,
    *,
    progress: Progress = silent,
) -> BuddiesResult:
    """Sparse correspondences between two images of possibly different sizes and domains.

    Args:
        image_a: ``(1, 3, Ha, Wa)`` RGB in [0, 1]; image_b: ``(1, 3, Hb, Wb)``.
        params: see :class:`BuddiesParams`.

    Returns:
        :class:`BuddiesResult` whose ``points`` are ``(N, 4)`` ``(xa, ya, xb, yb)`` in the given images.
    """
    params = params or BuddiesParams()
    check_image(image_a, "image A")
    check_image(image_b, "image B")
    backbone = get_backbone(params.backbone, params.weights, device=image_a.device)  # follows the inputs' device
    layers = check_params(params, backbone)
    work_a = resize_longer(image_a.float(), params.size)
    work_b = resize_longer(image_b.float().to(image_a.device), params.size)
    scale_a = (image_a.shape[-1] / work_a.shape[-1], image_a.shape[-2] / work_a.shape[-2])
    scale_b = (image_b.shape[-1] / work_b.shape[-1], image_b.shape[-2] / work_b.shape[-2])
    feats_a = backbone.extract(work_a, layers)
    feats_b = backbone.extract(work_b, layers)

    start = start_level(
        params,
        [tuple(feats_a[n].shape[-2:]) for n in reversed(layers)],
        [tuple(feats_b[n].shape[-2:]) for n in reversed(layers)],
    )
    coarse_to_fine = list(reversed(layers))[start:]
    neighbourhood, radius = params.neighbourhood[start:], params.radius[start:]
    levels: list[BuddiesLevel] = []
    fa0, fb0 = feats_a[coarse_to_fine[0]], feats_b[coarse_to_fine[0]]
    # the coarsest search region pair covers both whole maps (Algorithm 1)
    dev = fa0.device
    regions = nbb.RegionPairs(
        torch.zeros(1, 2, dtype=torch.long, device=dev),
        torch.zeros(1, 2, dtype=torch.long, device=dev),
        tuple(fa0.shape[-2:]),
        tuple(fb0.shape[-2:]),
    )
    parent_of_region = torch.full((1,), -1, dtype=torch.long, device=dev)
    for i in progress(range(len(coarse_to_fine)), total=len(coarse_to_fine), desc="best buddies"):
        layer = coarse_to_fine[i]
        fa, fb = feats_a[layer], feats_b[layer]
        patch = neighbourhood[i]
        if params.common_appearance == "authors" and levels and levels[-1].points.shape[0] > 0:
            prev, pts = coarse_to_fine[i - 1], levels[-1].points
            ca = authors_common_appearance(
                backbone, layer, prev, fa, tuple(feats_a[prev].shape[-2:]), fb, feats_b[prev], pts, params.deconv_iters
            )
            # one-sided: averaging both sides would make every coarser pair a perfect match of itself
            # (C_A(p) = C_B(p + w) exactly for the warp w), freezing the coarse estimate
            cb = fb
        else:
            ca, cb = fa, fb
        points, region = nbb.find_buddies(ca, cb, regions, patch, common=params.common_appearance == "paper")
        first = unique_pairs(points)
        points, region = points[first], region[first]
        found = points.shape[0]
        act_a, act_b = nbb.normalized_activation(fa), nbb.normalized_activation(fb)
        keep = nbb.activation_filter(points, act_a, act_b, params.gamma)
        points, region = points[keep], region[keep]
        levels.append(
            BuddiesLevel(
                layer=layer,
                stride=backbone.stride(layer),
                patch=patch,
                points=points,
                region=region,
                regions=regions,
                parent=parent_of_region[region],
                activation=nbb.pair_activation(points, act_a, act_b),
                found=found,
            )
        )
        if i + 1 < len(coarse_to_fine):
            regions = nbb.refine_regions(points, radius[i])
            parent_of_region = torch.arange(points.shape[0], device=dev)

    finest = levels[-1]
    n = finest.points.shape[0]
    # Eq. 11: activation accumulated along each pair's chain of ancestors
    ranks = torch.zeros(n, dtype=torch.float32, device=dev)
    idx = torch.arange(n, device=dev)
    for lv in reversed(levels):
        ranks += lv.activation[idx]
        idx = lv.parent[idx]
    points = _to_image(finest.points, finest.stride, scale_a, scale_b)
    top_k = spread_top_k(points, ranks, params.k, seed=params.seed)
    return BuddiesResult(points=points, ranks=ranks, top_k=top_k, levels=levels, scale_a=scale_a, scale_b=scale_b)
