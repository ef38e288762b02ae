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

from dataclasses import replace

import torch

from ..errors import InputError
from ..features import get_backbone
from ..io import resize_longer
from ..matching.buddies import normalized_activation
from ..methods.buddies import BuddiesParams, neural_best_buddies
from ..progress import Progress, silent
from ..synthesis.warp import sample
from .align import _plan
from .pair_fit import FitParams, select_pairs

#: B's search size over A's: the given framing first, then B zoomed out and B zoomed in
SCALES: tuple[float, ...] = (1.0, 0.5, 2.0)
#: the layer whose features judge a map: the deepest but one of EfficientNet-Lite0 (stride 16), which
#: chose the right scale on 30 face pairs far more often than stage3 or stage7 (docs/buddies.md)
JUDGE_LAYER = "stage5"


def _given(points: torch.Tensor, work_a: torch.Tensor, work_b: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """``(N, 4)`` pairs found between the working images, in the given images' pixels (centres aligned)."""
    out = points.double().clone()
    for col, work, image in ((0, work_a, a), (2, work_b, b)):
        sx, sy = image.shape[-1] / work.shape[-1], image.shape[-2] / work.shape[-2]
        out[:, col] = (out[:, col] + 0.5) * sx - 0.5
        out[:, col + 1] = (out[:, col + 1] + 0.5) * sy - 0.5
    return out.float()


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
    A's, the larger of the two at ``params.size``. Scales whose shrunk image is too small to search
    are left out (the first always runs: its errors are the user's).
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
            continue
        out.append((_given(res.points, wa, wb, a, b).cpu(), res.ranks.cpu()))
    return out


def _one_way(m: torch.Tensor, fa: torch.Tensor, wa: torch.Tensor, shape_a, fb: torch.Tensor, shape_b) -> float:
    """Mean over A's feature cells (weighted by ``wa (h, w)``) of the cosine of ``fa (1, C, h, w)``
    and ``fb`` where the map ``m`` (A pixel -> B pixel) puts each cell; 0 where it leaves B."""
    h, w = fa.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    px, py = (xs + 0.5) * shape_a[1] / w - 0.5, (ys + 0.5) * shape_a[0] / h - 0.5
    qx, qy = m[0, 0] * px + m[0, 1] * py + m[0, 2], m[1, 0] * px + m[1, 1] * py + m[1, 2]
    hb, wb = fb.shape[-2:]
    u, v = (qx + 0.5) * wb / shape_b[1] - 0.5, (qy + 0.5) * hb / shape_b[0] - 0.5  # B's feature cells
    on_b = ((u >= -0.5) & (u <= wb - 0.5) & (v >= -0.5) & (v <= hb - 0.5)).float()
    cos = (sample(fb, torch.stack([u, v]).float()) * fa).sum(1)[0].clamp_min(0) * on_b
    return float((cos * wa).sum() / wa.sum().clamp_min(1e-12))


def agreement(m: torch.Tensor, feats_a: tuple[torch.Tensor, torch.Tensor], feats_b, shape_a, shape_b) -> float:
    """How well a map ``m`` ``(3, 3)`` (A pixel -> B pixel) lines up the two images' features: the
    activation-weighted cosine of A's features and B's where ``m`` puts them, and of B's and A's
    through ``m``'s inverse, averaged. Cells mapped off the other image count 0, so a map that keeps
    the salient parts of both on each other wins. ``feats_*``: unit features ``(1, C, h, w)`` and
    activation ``(h, w)``; ``shape_*``: the images' ``(H, W)``."""
    m = m.double()
    there = _one_way(m, feats_a[0], feats_a[1], shape_a, feats_b[0], shape_b)
    back = _one_way(torch.linalg.inv(m), feats_b[0], feats_b[1], shape_b, feats_a[0], shape_a)
    return 0.5 * (there + back)


def _judge_features(image: torch.Tensor, params: BuddiesParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit features ``(1, C, h, w)`` of :data:`JUDGE_LAYER` and their normalised activation ``(h, w)``."""
    net = get_backbone("efficientnet-lite0", device=image.device)
    size = params.size or max(image.shape[-2:])
    with torch.no_grad():
        f = net.extract(resize_longer(image.float(), size), [JUDGE_LAYER])[JUDGE_LAYER].cpu()
    return torch.nn.functional.normalize(f, dim=1), normalized_activation(f)


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
    params, buddies = params or FitParams(), buddies or BuddiesParams()
    shape_a, shape_b = tuple(a.shape[-2:]), tuple(b.shape[-2:])
    fa = fb = None
    best, best_score = (torch.zeros(0, 4), torch.zeros(0)), -1.0
    for points, ranks in searches:
        if points.shape[0] < 3:
            continue
        idx = select_pairs(points, ranks, k, params=params)
        if len(searches) == 1:
            return points[idx], ranks[idx]
        if fa is None:  # the judge's features, once
            fa, fb = _judge_features(a, buddies), _judge_features(b, buddies)
        score = agreement(_plan(points[idx], shape_b, params)[0], fa, fb, shape_a, shape_b)
        if score > best_score:
            best, best_score = (points[idx], ranks[idx]), score
    return best


__all__ = ["JUDGE_LAYER", "SCALES", "agreement", "driving_pairs", "scaled_searches"]
