"""Best buddies to drive a deformation: searched at a few relative scales, the best-agreeing kept.

Neural Best-Buddies compares neighbourhoods of one size in both images, so two objects framed at
different scales (a face filling B, small in A) share few true buddies and the robust fit
(:mod:`.pair_fit`) settles on a wrong map. So the search runs again with B at half and at twice A's
size (each time the smaller image shrunk, so it costs less than the first search), and the scale
whose fitted map the most pairs of all the searches agree with gives the driving pairs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..errors import InputError
from ..io import resize_longer
from ..methods.buddies import BuddiesParams, neural_best_buddies
from ..progress import Progress, silent
from .align import _plan
from .pair_fit import FitParams, select_pairs

#: B's search size over A's: the given framing first, then B zoomed out and B zoomed in
SCALES: tuple[float, ...] = (1.0, 0.5, 2.0)


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


def driving_pairs(
    searches: list[tuple[torch.Tensor, torch.Tensor]],
    shape_b: tuple[int, int],
    k: int,
    params: FitParams | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, 4)`` the ``k`` spread, consistent pairs (:func:`select_pairs`) of the search whose global
    map the pairs of all searches agree with best (MSAC score, as :func:`.pair_fit.robust_fit` counts),
    and their ``(M,)`` ranks.

    Pooling the searches into one fit would let the many background pairs of the wrong scales outvote
    the right one; scoring each search's own map on the pool instead asks which scale's map the other
    scales' true pairs confirm.
    """
    params = params or FitParams()
    pool = torch.cat([p for p, _ in searches]).double().numpy()
    thr = params.threshold * float(np.hypot(*shape_b))
    best, best_score = (torch.zeros(0, 4), torch.zeros(0)), -1.0
    for points, ranks in searches:
        if points.shape[0] < 3:
            continue
        idx = select_pairs(points, ranks, k, params=params)
        m = _plan(points[idx], shape_b, params)[0].numpy()
        err2 = ((pool[:, :2] @ m[:2, :2].T + m[:2, 2] - pool[:, 2:]) ** 2).sum(1)
        score = float(np.clip(1 - err2 / thr**2, 0, None).sum())
        if score > best_score:
            best, best_score = (points[idx], ranks[idx]), score
    return best


__all__ = ["SCALES", "driving_pairs", "scaled_searches"]
