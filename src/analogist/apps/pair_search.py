"""Best buddies to drive a deformation: searched at a few relative scales, the best-agreeing kept.

Neural Best-Buddies compares neighbourhoods of one size in both images, so two objects framed at
different scales (a face filling B, small in A) share few true buddies and the robust fit
(:mod:`.pair_fit`) settles on a wrong map. So the search runs again with B at half and at twice A's
size (each time the smaller image shrunk, so it costs less than the first search); each search's
fitted map is judged by how well the deep features of the two images agree once it lines them up
(:func:`agreement`), and the best one's pairs drive the deformation. Counting the pairs that agree
with a map instead picks the given framing too often: the search at A's scale finds the most pairs,
right or wrong (``benchmarks/align_faces.py``, docs/buddies.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..errors import InputError
from ..features import get_backbone
from ..io import resize_longer
from ..matching.buddies import normalized_activation
from ..matching.flow import identity_grid
from ..matching.mls import apply_matrix
from ..methods.buddies import BuddiesParams, neural_best_buddies
from ..progress import Progress, silent
from ..synthesis.warp import sample
from .align import _frame_matrix, _plan
from .pair_fit import FitParams, select_pairs, spread_agreement

#: B's search size over A's: the given framing first, then B zoomed out and B zoomed in
SCALES: tuple[float, ...] = (1.0, 0.5, 2.0)
#: the layer whose features judge a map: the deepest but one of EfficientNet-Lite0 (stride 16), which
#: chose the right scale on 30 face pairs far more often than stage3 or stage7 (docs/buddies.md)
JUDGE_LAYER = "stage5"
#: align and morph search with EfficientNet-Lite0 (the CLI's default, the web's only one): on 30 face
#: pairs its buddies give a global map that lines the faces up far more often than the paper's VGG's
DEFORM_BACKBONE = "efficientnet-lite0"


def _given(points: torch.Tensor, work_a: torch.Tensor, work_b: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """``(N, 4)`` pairs found between the working images, in the given images' pixels (centres aligned)."""
    to_a = _frame_matrix(tuple(a.shape[-2:]), tuple(work_a.shape[-2:]))
    to_b = _frame_matrix(tuple(b.shape[-2:]), tuple(work_b.shape[-2:]))
    return torch.cat([apply_matrix(to_a, points[:, :2]), apply_matrix(to_b, points[:, 2:4])], 1).float()


def scaled_searches(
    a: torch.Tensor,
    b: torch.Tensor,
    params: BuddiesParams,
    scales: tuple[float, ...] = SCALES,
    *,
    progress: Progress = silent,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(points (N, 4), ranks (N,))`` of a search per scale, in the given images' pixels.

    ``a``: ``(1, 3, Ha, Wa)``, ``b``: ``(1, 3, Hb, Wb)``. At scale ``s`` B's longer side is ``s`` times
    A's, the larger of the two at ``params.size``. A scale whose shrunk image is too small to search
    gives no pairs, so the list lines up with ``scales`` (the first's errors are the user's).
    """
    size = params.size or max(a.shape[-2:] + b.shape[-2:])
    out = []
    for i, s in enumerate(scales):
        wa = resize_longer(a.float(), round(size / max(s, 1.0)))
        wb = resize_longer(b.float(), round(size * min(s, 1.0)))
        try:
            res = neural_best_buddies(wa, wb, replace(params, size=None), progress=progress)
        except InputError:
            if i == 0:
                raise
            out.append((torch.zeros(0, 4), torch.zeros(0)))
            continue
        out.append((_given(res.points, wa, wb, a, b).cpu(), res.ranks.cpu()))
    return out


def _one_way(
    m: torch.Tensor, fa: torch.Tensor, wa: torch.Tensor, shape_a, fb: torch.Tensor, shape_b
) -> tuple[float, float]:
    """Over A's feature cells that the map ``m`` (A pixel -> B pixel) puts on B, weighted by ``wa (h, w)``:
    the mean cosine of ``fa (1, C, h, w)`` and ``fb`` there, and the share of the weight they hold."""
    h, w = fa.shape[-2:]
    hb, wb = fb.shape[-2:]
    # A's feature cells -> A's pixels -> (m) B's pixels -> B's feature cells, pixel centres aligned
    cells = _frame_matrix((hb, wb), shape_b) @ m @ _frame_matrix(shape_a, (h, w))
    uv = apply_matrix(cells, identity_grid(h, w, dtype=torch.float64).reshape(2, -1).T).T.reshape(2, h, w)
    u, v = uv
    on_b = ((u >= -0.5) & (u <= wb - 0.5) & (v >= -0.5) & (v <= hb - 0.5)).float()
    cos = (sample(fb, uv.float()) * fa).sum(1)[0].clamp_min(0)
    landed = wa * on_b
    return float((cos * landed).sum() / landed.sum().clamp_min(1e-12)), float(landed.sum() / wa.sum().clamp_min(1e-12))


def agreement(m: torch.Tensor, feats_a: tuple[torch.Tensor, torch.Tensor], feats_b, shape_a, shape_b) -> float:
    """How well a map ``m`` ``(3, 3)`` (A pixel -> B pixel) lines up the two images' features: the
    activation-weighted cosine of A's features and B's where ``m`` puts them, over the cells that land
    on B, times the square root of the share that lands; the same of B's through ``m``'s inverse; the
    mean of the two. The share keeps a map that puts the salient parts of both on each other ahead of
    one that matches a corner; its square root lets a true zoom, whose wider image mostly lands off the
    other, win over the given framing (counting the share itself chose that framing: docs/buddies.md).
    ``feats_*``: unit features ``(1, C, h, w)`` and activation ``(h, w)``; ``shape_*``: the images' ``(H, W)``."""
    m = m.double()
    there, share_there = _one_way(m, feats_a[0], feats_a[1], shape_a, feats_b[0], shape_b)
    back, share_back = _one_way(torch.linalg.inv(m), feats_b[0], feats_b[1], shape_b, feats_a[0], shape_a)
    return 0.5 * (there * share_there**0.5 + back * share_back**0.5)


def _judge_features(image: torch.Tensor, params: BuddiesParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit features ``(1, C, h, w)`` of :data:`JUDGE_LAYER` and their normalised activation ``(h, w)``."""
    net = get_backbone("efficientnet-lite0", device=image.device)
    size = params.size or max(image.shape[-2:])
    with torch.no_grad():
        f = net.extract(resize_longer(image.float(), size), [JUDGE_LAYER])[JUDGE_LAYER].cpu()
    return torch.nn.functional.normalize(f, dim=1), normalized_activation(f)


def _choose(
    a: torch.Tensor,
    b: torch.Tensor,
    searches: list[tuple[torch.Tensor, torch.Tensor]],
    k: int,
    buddies: BuddiesParams,
    params: FitParams,
    progress: Progress = silent,
) -> tuple[int, torch.Tensor, float]:
    """The search whose spread, consistent pairs' global map lines the images up best: its index
    (-1 where none has 3 pairs), those pairs' indices ``(M,)`` and its :func:`agreement` (nan with
    one search: nothing to choose, so the judge's features are not computed)."""
    shape_a, shape_b = tuple(a.shape[-2:]), tuple(b.shape[-2:])
    fa = fb = None
    best, best_idx, best_score = -1, torch.zeros(0, dtype=torch.long), -1.0
    # a stage of its own: fitting each search's thousands of pairs takes longer than the searches at 224 px
    for i, (points, ranks) in enumerate(progress(searches, total=len(searches), desc="choosing the scale")):
        if points.shape[0] < 3:
            continue
        idx = select_pairs(points, ranks, k, params=params)
        if len(searches) == 1:
            return i, idx, float("nan")
        if fa is None:  # the judge's features, once
            fa, fb = _judge_features(a, buddies), _judge_features(b, buddies)
        score = agreement(_plan(points[idx], shape_b, params)[0], fa, fb, shape_a, shape_b)
        if score > best_score:
            best, best_idx, best_score = i, idx, score
    return best, best_idx, best_score


def driving_pairs(
    a: torch.Tensor,
    b: torch.Tensor,
    searches: list[tuple[torch.Tensor, torch.Tensor]],
    k: int,
    buddies: BuddiesParams | None = None,
    params: FitParams | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, 4)`` the ``k`` spread, consistent pairs (:func:`select_pairs`) of the search whose global
    map lines up ``a`` ``(1, 3, Ha, Wa)`` and ``b`` ``(1, 3, Hb, Wb)`` best (:func:`agreement`), and
    their ``(M,)`` ranks. With one search, its pairs."""
    i, idx, _ = _choose(a, b, searches, k, buddies or BuddiesParams(), params or FitParams())
    if i < 0:
        return torch.zeros(0, 4), torch.zeros(0)
    return searches[i][0][idx], searches[i][1][idx]


@dataclass(frozen=True)
class Drivers:
    """The pairs that drive align's and morph's deformation, and what the search said of them."""

    #: ``(M, 4)`` ``(xa, ya, xb, yb)`` in the given images' pixels, and their ``(M,)`` ranks
    points: torch.Tensor
    ranks: torch.Tensor
    #: B's search size over A's of the chosen search (one of the ``scales``)
    scale: float
    #: best buddies the chosen search found (before the spread, consistent ``k`` were picked)
    found: int
    #: of the chosen search's ``2k`` spread pairs, how many agree on one deformation (at most ``k``)
    consistent: int
    #: :func:`agreement` of the chosen map (nan with one search)
    agreement: float


def refuse_flat(a: torch.Tensor, b: torch.Tensor) -> None:
    """Refuse (:class:`InputError`) an image ``(1, 3, H, W)`` of one colour: nothing to match."""
    for label, image in (("image A", a), ("image B", b)):
        if float(image.amax() - image.amin()) < 1 / 255:  # a 1-pixel image, once resized, is one of these
            raise InputError(f"{label} is a single flat colour: best buddies need structure to match in both images")


def none_found(n: int, hint: str) -> None:
    """Refuse (:class:`InputError`) a search that found ``n`` = 0 best buddies; ``hint``: what to try."""
    if n == 0:
        raise InputError(
            f"no best buddies survived (the images share no strongly activated structure at this size): try {hint}"
        )


def too_few_drivers(n: int, hint: str) -> None:
    """Refuse (:class:`InputError`) ``n`` < 3 driving pairs: a warp needs 3; ``hint``: what to try."""
    if n < 3:
        raise InputError(f"only {n} consistent best buddies were found: a warp needs 3; try {hint}")


def deform_drivers(
    a: torch.Tensor,
    b: torch.Tensor,
    params: BuddiesParams,
    k: int,
    scales: tuple[float, ...] = SCALES,
    *,
    device: torch.device | str = "cpu",
    progress: Progress = silent,
    hint: str = "a larger search size or a lower activation threshold (gamma)",
) -> Drivers:
    """Align's and morph's driving pairs, for every front end: :func:`scaled_searches` of ``a``
    ``(1, 3, Ha, Wa)`` and ``b`` ``(1, 3, Hb, Wb)`` on ``device`` (the results on the CPU), the
    best-agreeing one's ``k`` spread, consistent pairs (:func:`driving_pairs`). Refuses flat images,
    no buddies and fewer than 3 drivers in one sentence (:class:`InputError`, ending with ``hint``)."""
    refuse_flat(a, b)
    searches = scaled_searches(a.to(device), b.to(device), params, scales, progress=progress)
    none_found(searches[0][0].shape[0], hint)
    i, idx, score = _choose(a.cpu(), b.cpu(), searches, k, params, FitParams(), progress)
    too_few_drivers(idx.numel(), hint)
    points, ranks = searches[i]
    # the VGG note's count, kept to compare (benchmarks/weak_matches.py)
    agree = spread_agreement(points, ranks, k)
    return Drivers(points[idx], ranks[idx], scales[i], int(points.shape[0]), agree, score)


__all__ = [
    "DEFORM_BACKBONE",
    "JUDGE_LAYER",
    "SCALES",
    "Drivers",
    "agreement",
    "deform_drivers",
    "driving_pairs",
    "none_found",
    "refuse_flat",
    "scaled_searches",
    "too_few_drivers",
]
