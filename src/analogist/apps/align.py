"""Alignment from best buddies (Neural Best-Buddies section 5.1) and the dense field they imply.

Best buddies between two different objects are noisy: many pair unrelated parts, and a deformation
through every pair bends the images around those. So the pairs first get a robust global map
(:mod:`.pair_fit`); pairs far from it are dropped, the rest pass a leave-one-out test, and moving
least squares adds only what the global map leaves over at them (damped where it would fold; left
out when too few pairs remain).
The canvas is image A's frame (B's coordinates are scaled into it), so images of different sizes
align; both images move half-way, onto the midpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..matching.flow import identity_grid
from ..matching.mls import Kind, apply_matrix, damped_flow
from ..synthesis.warp import inside, sample
from .pair_fit import FitParams, PairFit, consistent, fit_pairs, robust_fit, select_pairs


def _frame_matrix(shape_a: tuple[int, int], shape_b: tuple[int, int]) -> torch.Tensor:
    """``(3, 3)``: B pixel -> the same place in A's frame (B stretched onto A, pixel centres aligned)."""
    sx, sy = shape_a[1] / shape_b[1], shape_a[0] / shape_b[0]
    return torch.tensor([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=torch.float64)


def _b_in_a_frame(points: torch.Tensor, shape_a: tuple[int, int], shape_b: tuple[int, int]) -> torch.Tensor:
    """``(N, 2)`` B coordinates of ``points (N, 4)`` scaled into A's frame (pixel centres aligned)."""
    return apply_matrix(_frame_matrix(shape_a, shape_b), points[:, 2:4])


def _through(matrix: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """``(2, H, W)`` pixel coordinates mapped by a ``(3, 3)`` matrix."""
    return apply_matrix(matrix, coords.reshape(2, -1).T).T.reshape(coords.shape).float()


def _plan(points: torch.Tensor, shape_b: tuple[int, int], params: FitParams) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs' global map (A pixel -> B pixel) and the pairs the residual follows ``(M, 4)``."""
    fit = fit_pairs(points, None, shape_b, params)
    enough = int(fit.inliers.sum()) >= params.min_pairs and params.residual > 0
    keep = fit.inliers if enough else torch.zeros_like(fit.inliers)
    return fit.matrix, points.double()[keep]


def _pair_at(plan, image_a, image_b, t: float, kind: Kind, params: FitParams, *, frame: bool, step: int):
    """Both images moved a share ``t`` of the way from A's geometry to B's, on A's canvas, and where
    each covers it ``(1, 1, Ha, Wa)`` (beyond its own frame an image is mirrored, not streaked; the
    coverage lets :func:`mix` and :meth:`Alignment.framed` leave that out).

    With ``S`` the global map and ``D`` B's frame in A's, A moves by ``G = (1 - t) I + t D S`` and
    B by ``G (D S)^-1``; a residual MLS field (pinned along the border with ``frame``) then brings
    the kept pairs to ``(1 - t) a + t b``, on straight paths.
    """
    s, pairs = plan
    shape = tuple(image_a.shape[-2:])
    d = _frame_matrix(shape, tuple(image_b.shape[-2:]))
    g = (1 - t) * torch.eye(3, dtype=torch.float64) + t * (d @ s)
    if float(torch.linalg.det(g[:2, :2])) < 1e-6:  # not within the prior (rotations under 90 degrees)
        g = torch.eye(3, dtype=torch.float64)
    g_inv = torch.linalg.inv(g)
    target = (1 - t) * pairs[:, 0:2] + t * apply_matrix(d, pairs[:, 2:4])
    grid, out, cover = identity_grid(*shape), [], []
    for image, placed, to_image in (
        (image_a, apply_matrix(g, pairs[:, 0:2]), g_inv),
        (image_b, apply_matrix(g @ torch.linalg.inv(s), pairs[:, 2:4]), s @ g_inv),
    ):
        goal = placed + params.residual * (target - placed)
        res = damped_flow(goal, placed, shape, kind, frame=frame, step=step)  # canvas -> placed image
        coords = _through(to_image, grid + res)
        out.append(sample(image, coords, mode="bicubic", padding="reflection").clamp(0, 1))
        cover.append(inside(coords, tuple(image.shape[-2:])))
    return out[0], out[1], cover[0], cover[1]


def mix(a: torch.Tensor, b: torch.Tensor, cover_a: torch.Tensor, cover_b: torch.Tensor, s: float) -> torch.Tensor:
    """``(1 - s) a + s b`` where both images cover the canvas; where only one does, that one (so the
    margin of one image does not show through the other); black where neither does."""
    wa, wb = (1 - s) * cover_a, s * cover_b
    mixed = (wa * a + wb * b) / (wa + wb).clamp_min(1e-6)
    return (mixed * torch.maximum(cover_a, cover_b)).clamp(0, 1)


@dataclass(frozen=True)
class Alignment:
    """Both images deformed onto the pairs' midpoints, in A's frame."""

    #: ``(1, 3, Ha, Wa)`` image A deformed so that its points sit on the midpoints
    a: torch.Tensor
    #: ``(1, 3, Ha, Wa)`` image B deformed likewise (and resized to A's frame)
    b: torch.Tensor
    #: ``(N, 2)`` midpoints (x, y) in A's frame
    midpoints: torch.Tensor
    #: ``(1, 1, Ha, Wa)`` in [0, 1]: where deformed A lies on A (1) or beyond it, mirrored (0)
    cover_a: torch.Tensor
    #: ``(1, 1, Ha, Wa)``: the same for deformed B
    cover_b: torch.Tensor

    def blend(self) -> torch.Tensor:
        """``(1, 3, Ha, Wa)``: the two halves mixed equally where both cover the canvas (:func:`mix`)."""
        return mix(self.a, self.b, self.cover_a, self.cover_b, 0.5)

    def framed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Both deformed images ``(1, 3, Ha, Wa)``, black beyond their own frames (what is saved)."""
        return self.a * self.cover_a, self.b * self.cover_b


def align(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    points: torch.Tensor,
    kind: Kind = "affine",
    *,
    frame: bool = True,
    step: int = 2,
    params: FitParams | None = None,
) -> Alignment:
    """Warp both images to the midpoints of the pairs (section 5.1): half the pairs' global map, then
    MLS for the pairs that agree with it.

    Args:
        image_a: ``(1, 3, Ha, Wa)``; image_b: ``(1, 3, Hb, Wb)``.
        points: ``(N, 4)`` ``(xa, ya, xb, yb)`` pairs, e.g. ``result.points[select_pairs(...)]``.
        kind: MLS variant of the residual deformation.
        frame: pin the residual along the canvas border (which then follows the global map).
        step: MLS evaluation stride (see :func:`analogist.matching.mls.dense_flow`).
    """
    params = params or FitParams()
    shape_a, shape_b = tuple(image_a.shape[-2:]), tuple(image_b.shape[-2:])
    plan = _plan(points, shape_b, params)
    wa, wb, ca, cb = _pair_at(plan, image_a, image_b, 0.5, kind, params, frame=frame, step=step)
    mid = (points[:, 0:2].double() + _b_in_a_frame(points, shape_a, shape_b)) / 2
    return Alignment(wa, wb, mid.float(), ca, cb)


def buddies_flow(
    points: torch.Tensor,
    shape_a: tuple[int, int],
    shape_b: tuple[int, int] | None = None,
    kind: Kind = "affine",
    *,
    frame: bool = False,
    step: int = 1,
    params: FitParams | None = None,
) -> torch.Tensor:
    """Dense flow ``(2, Ha, Wa)`` from A to B: the pairs' global map after an MLS field through the
    pairs that agree with it (:func:`align`'s deformation, all the way to B). It never folds.

    Pixel ``p`` of A corresponds to ``p + flow[p]`` in B (the paper evaluates PCK this way).

    Args:
        points: ``(N, 4)`` ``(xa, ya, xb, yb)``.
        shape_b: B's ``(H, W)``, for the thresholds (default: estimated from the points).
        frame: pin the residual along A's border (which then follows the global map).
    """
    params = params or FitParams()
    shape_a = tuple(shape_a)
    s, pairs = _plan(points, shape_b, params)
    pa = pairs[:, 0:2]
    goal = pa + params.residual * (apply_matrix(torch.linalg.inv(s), pairs[:, 2:4]) - pa)
    grid = identity_grid(*shape_a)
    return _through(s, grid + damped_flow(pa, goal, shape_a, kind, frame=frame, step=step)) - grid


__all__ = [
    "Alignment",
    "FitParams",
    "PairFit",
    "align",
    "buddies_flow",
    "consistent",
    "fit_pairs",
    "mix",
    "robust_fit",
    "select_pairs",
]
