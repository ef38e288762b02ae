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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch

if TYPE_CHECKING:
    import numpy as np

from ..errors import InputError
from ..features import Backbone, get_backbone
from ..io import check_image, resize_longer
from ..matching import buddies as nbb
from ..progress import Progress, silent
from ..synthesis.deconv import deconvolve
from ..synthesis.warp import backward_warp


@dataclass(frozen=True)
class BuddiesParams:
    """Parameters of Neural Best-Buddies; the paper's values are the defaults.

    Level tables run from the coarsest level (``l = L``, the deepest layer) to the finest (``l = 1``).
    """

    #: gamma of Eq. 8: minimum normalised activation (Eq. 7) of both points of a pair
    gamma: float = 0.05
    #: neighbourhood (patch) side of Eq. 3 per level, coarsest first: 3x3 at the two coarse levels
    neighbourhood: tuple[int, ...] = (3, 3, 5, 5, 5)
    #: r of Eq. 9-10 per level that is refined, coarsest first: 6 at levels 5-4, 4 at levels 3-2
    radius: tuple[int, ...] = (6, 6, 4, 4)
    #: number of spread pairs returned in ``top_k`` (k-means clusters)
    k: int = 10
    #: feature extractor; the paper uses VGG19 relu1_1..relu5_1 (``"vgg19"`` when its weights exist)
    backbone: str = "vgg16-hed"
    #: explicit weight file for the backbone (else found automatically)
    weights: str | None = None
    #: pyramid layers, shallow to deep; ``None`` takes the backbone's default five
    layers: tuple[str, ...] | None = None
    #: longer image side the search runs at (the paper's 224); ``None`` keeps the given size
    size: int | None = 224
    #: how both images are brought to a common appearance before patches are compared:
    #: ``"paper"`` (Eq. 4-6) moves each region pair to the per-channel mean and deviation halfway
    #: between its two regions; ``"authors"`` follows the authors' code (as far as is known): below
    #: the coarsest level, B's features one level coarser are warped into A's layout through the
    #: pairs found there, deconvolved to this level (feature inversion, L-BFGS) and averaged with
    #: A's features, which are then compared with B's raw features (the coarsest level compares raw
    #: features); ``"none"`` compares raw features (ablation). ``benchmarks/buddies.py`` compares them.
    common_appearance: Literal["paper", "authors", "none"] = "paper"
    #: L-BFGS iterations of each feature inversion of the ``"authors"`` common appearance
    deconv_iters: int = 10
    #: the search starts at the coarsest level whose *interior* (positions whose whole neighbourhood
    #: lies inside the map, the only ones ever matched) spans at least this many neighbourhoods
    #: along the shorter side of both maps. With fewer, mutual nearest neighbours have almost no
    #: choice and Eq. 7's min-max normalisation over a handful of positions sends the weakest
    #: below gamma, so small images (e.g. 96 px: a 4x6 relu5_1 map with a 2x4 interior) found no
    #: buddies at all. At the paper's 224 px every level qualifies, so nothing changes there.
    min_start_extent: float = 1.0
    #: seed of the k-means spreading
    seed: int = 0


@dataclass(frozen=True)
class BuddiesLevel:
    """The best buddies found at one pyramid level (all tensors on the CPU)."""

    layer: str
    #: pixels of the working image per map position
    stride: int
    #: neighbourhood side used at this level
    patch: int
    #: ``(M, 4)`` integer ``(ya, xa, yb, xb)`` map coordinates of the kept pairs
    points: torch.Tensor
    #: ``(M,)`` index into :attr:`regions` of the region pair each pair was found in
    region: torch.Tensor
    #: the searched region pairs of this level
    regions: nbb.RegionPairs
    #: ``(M,)`` index of each pair's parent at the coarser level (``-1`` at the coarsest)
    parent: torch.Tensor
    #: ``(M,)`` ``H_A(p) + H_B(q)`` (Eq. 7)
    activation: torch.Tensor
    #: pairs found before activation filtering (mutual, deduplicated)
    found: int


@dataclass(frozen=True)
class BuddiesResult:
    """Correspondences and the per-level record of how they were found."""

    #: ``(N, 4)`` float ``(xa, ya, xb, yb)`` pixel coordinates in the given images
    points: torch.Tensor
    #: ``(N,)`` accumulated normalised activation (Eq. 11); higher is more reliable
    ranks: torch.Tensor
    #: indices into :attr:`points` of the ``k`` spread pairs, best rank first
    top_k: torch.Tensor
    #: the searched levels, coarsest first (small images skip the coarsest: see
    #: :attr:`BuddiesParams.min_start_extent`)
    levels: list[BuddiesLevel] = field(default_factory=list)
    #: ``(sx, sy)`` of the given image per working-image pixel, for A and B
    scale_a: tuple[float, float] = (1.0, 1.0)
    scale_b: tuple[float, float] = (1.0, 1.0)

    def ancestors(self, level: int) -> torch.Tensor:
        """``(N,)`` index into ``levels[level].points`` of the ancestor of each final pair."""
        idx = torch.arange(self.points.shape[0], device=self.points.device)
        for lv in reversed(self.levels[level + 1 :]):
            idx = lv.parent[idx]
        return idx

    def level_points(self, level: int) -> torch.Tensor:
        """``(M, 4)`` float ``(xa, ya, xb, yb)`` of ``levels[level]`` in the given images (cell centres)."""
        lv = self.levels[level]
        return _to_image(lv.points, lv.stride, self.scale_a, self.scale_b)

    def receptive_radius(self, level: int) -> tuple[float, float]:
        """Radius in given-image pixels of the neighbourhood a level compares, in A and in B."""
        lv = self.levels[level]
        r = lv.stride * lv.patch / 2
        return r * (self.scale_a[0] + self.scale_a[1]) / 2, r * (self.scale_b[0] + self.scale_b[1]) / 2


def _to_image(
    points: torch.Tensor, stride: int, scale_a: tuple[float, float], scale_b: tuple[float, float]
) -> torch.Tensor:
    p = points.double()
    ya, xa, yb, xb = p.unbind(1)
    # cell centre in working pixels, then into the given image (pixel centres at integers)
    out = torch.stack(
        [
            (xa + 0.5) * stride * scale_a[0] - 0.5,
            (ya + 0.5) * stride * scale_a[1] - 0.5,
            (xb + 0.5) * stride * scale_b[0] - 0.5,
            (yb + 0.5) * stride * scale_b[1] - 0.5,
        ],
        dim=1,
    )
    return out.float()


COMMON_APPEARANCES = ("paper", "authors", "none")


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
    pair's displacement, :func:`analogist.matching.buddies.pairs_flow`) and inverted through the
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
    flow = nbb.pairs_flow(points, coarse_shape)
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
    params: BuddiesParams = BuddiesParams(),
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
        first = nbb.unique_pairs(points)
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
    top_k = nbb.spread_top_k(points, ranks, params.k, seed=params.seed)
    return BuddiesResult(points=points, ranks=ranks, top_k=top_k, levels=levels, scale_a=scale_a, scale_b=scale_b)


def draw_buddies(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    result: BuddiesResult,
    indices: torch.Tensor | None = None,
    *,
    circles: bool = True,
) -> np.ndarray:
    """Side-by-side picture ``(H, Wa + gap + Wb, 3)`` uint8 of pairs in matching colours (Fig. 1).

    Each pair gets a dot at its pixel and, with ``circles``, circles around its ancestors at the
    coarsest and the middle level whose radii are the neighbourhoods those levels compared (their
    receptive fields); drawing every level would hide the images.

    Args:
        image_a, image_b: the images given to :func:`neural_best_buddies`.
        indices: pairs to draw (default ``result.top_k``).
    """
    import cv2
    import numpy as np

    from ..io import to_uint8

    a, b = to_uint8(image_a), to_uint8(image_b)
    gap = max(4, a.shape[1] // 60)
    h = max(a.shape[0], b.shape[0])
    canvas = np.full((h, a.shape[1] + gap + b.shape[1], 3), 255, np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], a.shape[1] + gap :] = b
    off = a.shape[1] + gap
    idx = result.top_k if indices is None else indices
    n = int(idx.numel())
    hues = (np.arange(n) * 180 // max(n, 1)).astype(np.uint8)
    colours = cv2.cvtColor(
        np.stack([hues, np.full(n, 230, np.uint8), np.full(n, 255, np.uint8)], 1)[None], cv2.COLOR_HSV2RGB
    )[0]
    thick = max(1, round(max(h, canvas.shape[1] / 2) / 300))
    img = np.ascontiguousarray(canvas)
    if circles:
        for lv in sorted({0, len(result.levels) // 2}):
            anc = result.ancestors(lv)[idx]
            pts = result.level_points(lv)[anc].numpy()
            ra, rb = result.receptive_radius(lv)
            for (xa, ya, xb, yb), col in zip(pts, colours):
                c = tuple(int(v) for v in col)
                cv2.circle(img, (round(xa), round(ya)), max(2, round(ra)), c, 1, cv2.LINE_AA)
                cv2.circle(img, (round(xb) + off, round(yb)), max(2, round(rb)), c, 1, cv2.LINE_AA)
    for (xa, ya, xb, yb), col in zip(result.points[idx].numpy(), colours):
        c = tuple(int(v) for v in col)
        for x, y in ((round(xa), round(ya)), (round(xb) + off, round(yb))):
            cv2.circle(img, (x, y), 2 * thick + 2, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(img, (x, y), 2 * thick + 1, c, -1, cv2.LINE_AA)
    return img
