"""Alignment from best buddies (Neural Best-Buddies section 5.1) and the dense field they imply.

Both images are deformed by moving least squares so that every pair meets at its midpoint; the
canvas is image A's frame (B's coordinates are scaled into it), so images of different sizes align.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..matching.mls import Kind, dense_flow, warp_image, with_frame


def _b_in_a_frame(points: torch.Tensor, shape_a: tuple[int, int], shape_b: tuple[int, int]) -> torch.Tensor:
    """``(N, 2)`` B coordinates of ``points (N, 4)`` scaled into A's frame (pixel centres aligned)."""
    sx = shape_a[1] / shape_b[1]
    sy = shape_a[0] / shape_b[0]
    b = points[:, 2:4].double()
    return torch.stack([(b[:, 0] + 0.5) * sx - 0.5, (b[:, 1] + 0.5) * sy - 0.5], dim=1)


def consistent(points: torch.Tensor, neighbours: int = 10, tol: float = 0.05) -> torch.Tensor:
    """Pairs whose displacement agrees with the median of their nearest pairs in A.

    Deformations through sparse pairs fold wherever two close pairs disagree; a pair that is not
    supported by its neighbours is such an outlier. (Best buddies come in dense clusters, so each
    real match has neighbours.)

    Args:
        points: ``(N, 4)`` ``(xa, ya, xb, yb)``.
        tol: largest allowed disagreement as a share of A's point spread (bounding-box diagonal).

    Returns:
        boolean mask ``(N,)``.
    """
    from scipy.spatial import cKDTree

    n = points.shape[0]
    if n <= 2:
        return torch.ones(n, dtype=torch.bool)
    p = points.double().numpy()
    disp = p[:, 2:4] - p[:, 0:2]
    kk = min(neighbours + 1, n)
    _, nb = cKDTree(p[:, 0:2]).query(p[:, 0:2], k=kk)
    med = np.median(disp[nb[:, 1:]], axis=1)
    diag = float(np.hypot(*(p[:, 0:2].max(0) - p[:, 0:2].min(0)))) or 1.0
    return torch.from_numpy(np.hypot(*(disp - med).T) <= tol * diag)


def select_pairs(points: torch.Tensor, ranks: torch.Tensor, k: int, *, seed: int = 0,
                 neighbours: int = 10, tol: float = 0.05) -> torch.Tensor:
    """Indices of ``k`` consistent (:func:`consistent`), spread (k-means, best rank per cluster) pairs
    to drive a deformation; falls back to all pairs when too few are consistent."""
    from ..matching.buddies import spread_top_k

    keep = consistent(points, neighbours, tol)
    if int(keep.sum()) < min(k, 3):
        keep = torch.ones_like(keep)
    idx = keep.nonzero()[:, 0]
    return idx[spread_top_k(points[idx], ranks[idx], k, seed=seed)]


@dataclass(frozen=True)
class Alignment:
    """Both images deformed onto the pairs' midpoints, in A's frame."""

    #: ``(1, 3, Ha, Wa)`` image A deformed so that its points sit on the midpoints
    a: torch.Tensor
    #: ``(1, 3, Ha, Wa)`` image B deformed likewise (and resized to A's frame)
    b: torch.Tensor
    #: ``(N, 2)`` midpoints (x, y) in A's frame
    midpoints: torch.Tensor


def align(image_a: torch.Tensor, image_b: torch.Tensor, points: torch.Tensor, kind: Kind = "affine", *,
          frame: bool = True, step: int = 2) -> Alignment:
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
    src_a, dst_a = (with_frame(pa, mid, shape_a, shape_a) if frame else (pa, mid))
    src_b, dst_b = (with_frame(points[:, 2:4].double(), mid, shape_b, shape_a) if frame
                    else (points[:, 2:4].double(), mid))
    warped_a = warp_image(image_a, src_a, dst_a, shape_a, kind, step=step)
    warped_b = warp_image(image_b, src_b, dst_b, shape_a, kind, step=step)
    return Alignment(warped_a, warped_b, mid.float())


def buddies_flow(points: torch.Tensor, shape_a: tuple[int, int], shape_b: tuple[int, int] | None = None,
                 kind: Kind = "affine", *, frame: bool = False, step: int = 1) -> torch.Tensor:
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
