"""Alignment from best buddies (Neural Best-Buddies section 5.1) and the dense field they imply.

Both images are deformed by moving least squares so that every pair meets at its midpoint; the
canvas is image A's frame (B's coordinates are scaled into it), so images of different sizes align.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..matching.mls import Kind, dense_flow, leave_one_out, warp_image, with_frame


def _b_in_a_frame(points: torch.Tensor, shape_a: tuple[int, int], shape_b: tuple[int, int]) -> torch.Tensor:
    """``(N, 2)`` B coordinates of ``points (N, 4)`` scaled into A's frame (pixel centres aligned)."""
    sx = shape_a[1] / shape_b[1]
    sy = shape_a[0] / shape_b[0]
    b = points[:, 2:4].double()
    return torch.stack([(b[:, 0] + 0.5) * sx - 0.5, (b[:, 1] + 0.5) * sy - 0.5], dim=1)


def consistent(points: torch.Tensor, tol: float = 0.08, kind: Kind = "similarity") -> torch.Tensor:
    """Pairs that agree with the deformation the other pairs imply (leave-one-out MLS).

    A deformation through sparse pairs folds wherever nearby pairs disagree. Each pair's B point is
    predicted from all other pairs by MLS; the pair with the worst prediction is dropped and the
    test repeats until every remaining pair is predicted within ``tol`` of B's diagonal. Meant for a
    few dozen spread pairs (it is quadratic in their number).

    Args:
        points: ``(N, 4)`` ``(xa, ya, xb, yb)``.

    Returns:
        boolean mask ``(N,)``; at least three pairs stay.
    """
    n = points.shape[0]
    keep = torch.ones(n, dtype=torch.bool)
    p = points.double()
    b = p[:, 2:4]
    diag = float((b.max(0).values - b.min(0).values).norm()) or 1.0
    while int(keep.sum()) > 3:
        idx = keep.nonzero()[:, 0]
        pred = leave_one_out(p[idx, 0:2], p[idx, 2:4], kind)
        err = (pred - b[idx]).norm(dim=1)
        worst = int(err.argmax())
        if float(err[worst]) <= tol * diag:
            break
        keep[idx[worst]] = False
    return keep


def select_pairs(
    points: torch.Tensor, ranks: torch.Tensor, k: int, *, seed: int = 0, tol: float = 0.08
) -> torch.Tensor:
    """Indices of at most ``k`` spread, mutually consistent pairs to drive a deformation.

    ``2k`` spread candidates (k-means over the 4-D points, best rank per cluster) are thinned by
    :func:`consistent`, then the best spread ``k`` of the survivors are kept.
    """
    from ..matching.pairs import spread_top_k

    cand = spread_top_k(points, ranks, 2 * k, seed=seed)
    cand = cand[consistent(points[cand], tol)]
    return cand[spread_top_k(points[cand], ranks[cand], k, seed=seed)]


@dataclass(frozen=True)
class Alignment:
    """Both images deformed onto the pairs' midpoints, in A's frame."""

    #: ``(1, 3, Ha, Wa)`` image A deformed so that its points sit on the midpoints
    a: torch.Tensor
    #: ``(1, 3, Ha, Wa)`` image B deformed likewise (and resized to A's frame)
    b: torch.Tensor
    #: ``(N, 2)`` midpoints (x, y) in A's frame
    midpoints: torch.Tensor


def align(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    points: torch.Tensor,
    kind: Kind = "affine",
    *,
    frame: bool = True,
    step: int = 2,
) -> Alignment:
    """Warp both images to the midpoints of the pairs (section 5.1).

    Args:
        image_a: ``(1, 3, Ha, Wa)``; image_b: ``(1, 3, Hb, Wb)``.
        points: ``(N, 4)`` ``(xa, ya, xb, yb)`` pairs, e.g. ``result.points[result.top_k]``.
        kind: MLS variant.
        frame: also pin the image borders to each other, which keeps the deformation from
            swinging the corners around.
        step: MLS evaluation stride (see :func:`analogist.matching.mls.dense_flow`).
    """
    shape_a = tuple(image_a.shape[-2:])
    shape_b = tuple(image_b.shape[-2:])
    pa = points[:, 0:2].double()
    pb_in_a = _b_in_a_frame(points, shape_a, shape_b)
    mid = (pa + pb_in_a) / 2
    src_a, dst_a = with_frame(pa, mid, shape_a, shape_a) if frame else (pa, mid)
    src_b, dst_b = (
        with_frame(points[:, 2:4].double(), mid, shape_b, shape_a) if frame else (points[:, 2:4].double(), mid)
    )
    warped_a = warp_image(image_a, src_a, dst_a, shape_a, kind, step=step)
    warped_b = warp_image(image_b, src_b, dst_b, shape_a, kind, step=step)
    return Alignment(warped_a, warped_b, mid.float())


def buddies_flow(
    points: torch.Tensor,
    shape_a: tuple[int, int],
    shape_b: tuple[int, int] | None = None,
    kind: Kind = "affine",
    *,
    frame: bool = False,
    step: int = 1,
) -> torch.Tensor:
    """Dense flow ``(2, Ha, Wa)`` from A to B interpolating sparse pairs by moving least squares.

    Pixel ``p`` of A corresponds to ``p + flow[p]`` in B (the paper evaluates PCK this way).

    Args:
        points: ``(N, 4)`` ``(xa, ya, xb, yb)``.
        shape_b: needed only with ``frame`` (borders of A pinned to borders of B).
    """
    src, dst = points[:, 0:2].double(), points[:, 2:4].double()
    if frame:
        if shape_b is None:
            raise ValueError("frame=True needs shape_b")
        src, dst = with_frame(src, dst, shape_a, shape_b)
    return dense_flow(src, dst, shape_a, kind, step=step)


__all__ = ["Alignment", "align", "buddies_flow", "consistent", "select_pairs"]
