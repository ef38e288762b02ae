"""Moving-least-squares deformations (Schaefer, McPhail, Warren 2006): sparse pairs to dense maps.

Each evaluation point ``v`` gets its own best affine, similarity or rigid map of the control points
``p_i`` onto ``q_i``, weighted by ``w_i = 1 / |p_i - v|^(2 alpha)``. Every quantity the closed forms
need is a weighted moment of the control points (``sum w``, ``sum w p``, ``sum w q``,
``sum w p p^T``, ``sum w q p^T``), so a chunk of pixels costs one ``(P, N) @ (N, 9)`` product and no
``(P, N, 2)`` intermediates. Control points map exactly onto their targets.

Points are ``(x, y)`` pixel coordinates; flows follow :mod:`analogist.matching.flow` (``(2, H, W)``
``(dx, dy)``: pixel ``p`` maps to ``p + flow[p]``).

:func:`jacobian_det` tells where a dense map folds; :func:`damped_flow` is a dense MLS field damped
until it does not.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from ..synthesis.warp import sample
from .flow import identity_grid

Kind = Literal["affine", "similarity", "rigid"]
KINDS: tuple[str, ...] = ("affine", "similarity", "rigid")

#: squared distance under which an evaluation point counts as sitting on a control point
_HIT = 1e-10


def _check(src: torch.Tensor, dst: torch.Tensor, kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown MLS kind {kind!r}: use one of {', '.join(KINDS)}")
    if src.dim() != 2 or src.shape[1] != 2 or src.shape != dst.shape:
        raise ValueError(f"control points must be two (N, 2) tensors, got {tuple(src.shape)} and {tuple(dst.shape)}")


def mls_transform(
    points: torch.Tensor,
    src: torch.Tensor,
    dst: torch.Tensor,
    kind: Kind = "affine",
    *,
    alpha: float = 1.0,
    chunk: int = 1 << 22,
) -> torch.Tensor:
    """Map ``points`` by the MLS deformation that takes ``src`` onto ``dst``.

    Args:
        points: ``(P, 2)`` evaluation points (x, y).
        src, dst: ``(N, 2)`` control points and their targets.
        kind: ``"affine"``, ``"similarity"`` or ``"rigid"`` (section 2.1-2.3 of the paper).
        alpha: weight falloff exponent.
        chunk: bound on ``P * N`` per step (memory).

    Returns:
        ``(P, 2)`` float64 mapped points. With no control points the map is the identity; with one,
        a translation; where the affine system is singular (collinear points) the similarity
        solution is used.
    """
    _check(src, dst, kind)
    pts = points.double().reshape(-1, 2)
    if src.shape[0] == 0:
        return pts.clone()
    p, q = src.double(), dst.double()
    feats = _moments(p, q)
    step = max(1, chunk // p.shape[0])
    out = torch.empty_like(pts)
    for s in range(0, pts.shape[0], step):
        out[s : s + step] = _mls_chunk(pts[s : s + step], p, q, feats, kind, alpha)
    return out


def _moments(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    # per control point: 1, p, q, p p^T (xx, xy, yy), q p^T (qx px, qx py, qy px, qy py)
    return torch.stack(
        [
            torch.ones_like(p[:, 0]),
            p[:, 0],
            p[:, 1],
            q[:, 0],
            q[:, 1],
            p[:, 0] * p[:, 0],
            p[:, 0] * p[:, 1],
            p[:, 1] * p[:, 1],
            q[:, 0] * p[:, 0],
            q[:, 0] * p[:, 1],
            q[:, 1] * p[:, 0],
            q[:, 1] * p[:, 1],
        ],
        dim=1,
    )


def leave_one_out(
    src: torch.Tensor, dst: torch.Tensor, kind: Kind = "similarity", *, alpha: float = 1.0
) -> torch.Tensor:
    """``(N, 2)``: where the MLS map of all *other* pairs sends each ``src`` point (outlier tests).

    Args:
        src, dst: ``(N, 2)`` control points and targets, ``N >= 2``.
    """
    _check(src, dst, kind)
    p, q = src.double(), dst.double()
    return _mls_chunk(p, p, q, _moments(p, q), kind, alpha, exclude_self=True)


def _mls_chunk(
    v: torch.Tensor,
    p: torch.Tensor,
    q: torch.Tensor,
    feats: torch.Tensor,
    kind: str,
    alpha: float,
    exclude_self: bool = False,
) -> torch.Tensor:
    d2 = torch.cdist(v, p).square_()  # (P, N)
    if exclude_self:
        d2.fill_diagonal_(float("inf"))
    nearest, hit = d2.min(dim=1)
    w = d2.clamp_min_(_HIT).pow_(-alpha)
    # weights are only defined up to scale per point: normalise so moments stay well conditioned
    w = w / w.sum(dim=1, keepdim=True)
    m = w @ feats  # (P, 12), m[:, 0] == 1
    ps, qs = m[:, 1:3], m[:, 3:5]  # p*, q*
    # centred moments: sum w p^ p^T and C = sum w q^ p^T
    pxx = m[:, 5] - ps[:, 0] * ps[:, 0]
    pxy = m[:, 6] - ps[:, 0] * ps[:, 1]
    pyy = m[:, 7] - ps[:, 1] * ps[:, 1]
    c00 = m[:, 8] - qs[:, 0] * ps[:, 0]
    c01 = m[:, 9] - qs[:, 0] * ps[:, 1]
    c10 = m[:, 10] - qs[:, 1] * ps[:, 0]
    c11 = m[:, 11] - qs[:, 1] * ps[:, 1]
    dx, dy = v[:, 0] - ps[:, 0], v[:, 1] - ps[:, 1]
    # similarity / rigid: sum_i q^_i A_i is the similarity matrix [[a, b], [-b, a]] applied to d
    a, b = c00 + c11, c01 - c10
    frx, fry = a * dx + b * dy, -b * dx + a * dy
    mu_s = pxx + pyy
    tiny = 1e-12
    if kind == "rigid":
        scale = torch.sqrt(dx * dx + dy * dy) / torch.sqrt(frx * frx + fry * fry).clamp_min(tiny)
        fx, fy = frx * scale, fry * scale
    else:
        fx, fy = frx / mu_s.clamp_min(tiny), fry / mu_s.clamp_min(tiny)
    if kind == "affine":
        det = pxx * pyy - pxy * pxy
        ok = det > 1e-9 * mu_s * mu_s
        sdet = torch.where(ok, det, torch.ones_like(det))
        # f = C P^-1 d with P = [[pxx, pxy], [pxy, pyy]]
        ux, uy = (pyy * dx - pxy * dy) / sdet, (pxx * dy - pxy * dx) / sdet
        fx = torch.where(ok, c00 * ux + c01 * uy, fx)
        fy = torch.where(ok, c10 * ux + c11 * uy, fy)
    # a single effective control point (all weight on one): the map is a translation
    degenerate = mu_s <= tiny
    fx = torch.where(degenerate, dx, fx)
    fy = torch.where(degenerate, dy, fy)
    out = torch.stack([fx + qs[:, 0], fy + qs[:, 1]], dim=1)
    on = nearest <= _HIT
    if on.any():
        out[on] = q[hit[on]]
    return out


def dense_flow(
    src_points: torch.Tensor,
    dst_points: torch.Tensor,
    shape: tuple[int, int],
    kind: Kind = "affine",
    *,
    alpha: float = 1.0,
    step: int = 1,
) -> torch.Tensor:
    """Dense flow ``(2, H, W)`` of the MLS map taking ``src_points`` onto ``dst_points``.

    Pixel ``p`` of the ``(H, W)`` source grid maps to ``p + flow[p]``.

    Args:
        src_points, dst_points: ``(N, 2)`` (x, y).
        step: evaluate every ``step`` pixels and interpolate bilinearly (MLS maps are smooth; 4 is
            visually exact and 16x cheaper); 1 evaluates every pixel.
    """
    h, w = shape
    if step <= 1:
        grid = identity_grid(h, w, dtype=torch.float64)
        mapped = mls_transform(grid.reshape(2, -1).T, src_points, dst_points, kind, alpha=alpha)
        return (mapped.T.reshape(2, h, w) - grid).float()
    ys = torch.arange(0, h - 1 + step, step, dtype=torch.float64).clamp_max(h - 1).unique()
    xs = torch.arange(0, w - 1 + step, step, dtype=torch.float64).clamp_max(w - 1).unique()
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    coarse = torch.stack([gx, gy]).reshape(2, -1).T
    mapped = mls_transform(coarse, src_points, dst_points, kind, alpha=alpha)
    flow_c = (mapped - coarse).T.reshape(1, 2, len(ys), len(xs)).float()
    # sample the coarse flow at every pixel (the coarse nodes sit at known pixel positions)
    px = torch.arange(w, dtype=torch.float32)
    py = torch.arange(h, dtype=torch.float32)
    ix = torch.from_numpy(_node_coord(xs.numpy(), px.numpy()))
    iy = torch.from_numpy(_node_coord(ys.numpy(), py.numpy()))
    gyy, gxx = torch.meshgrid(iy, ix, indexing="ij")
    return sample(flow_c, torch.stack([gxx, gyy]).float())[0]


def _node_coord(nodes: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Fractional index of each pixel among increasing node positions (for bilinear lookup)."""
    return np.interp(pixels, nodes, np.arange(len(nodes))).astype(np.float32)


def warp_image(
    image: torch.Tensor,
    src_points: torch.Tensor,
    dst_points: torch.Tensor,
    out_shape: tuple[int, int] | None = None,
    kind: Kind = "affine",
    *,
    alpha: float = 1.0,
    step: int = 1,
) -> torch.Tensor:
    """Deform ``image`` so that the content at ``src_points`` moves to ``dst_points``.

    Backward mapping: every output pixel reads the image where the MLS map from ``dst_points`` to
    ``src_points`` sends it, so the output has no holes.

    Args:
        image: ``(B, C, H, W)``.
        src_points, dst_points: ``(N, 2)`` (x, y) in the image / in the output.
        out_shape: output ``(H', W')``; default the image's.

    Returns:
        ``(B, C, H', W')``.
    """
    shape = tuple(out_shape or image.shape[-2:])
    back = dense_flow(dst_points, src_points, shape, kind, alpha=alpha, step=step)
    return sample(image, back + identity_grid(*shape))


def with_frame(
    src: torch.Tensor, dst: torch.Tensor, shape_src: tuple[int, int], shape_dst: tuple[int, int], per_side: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Append anchor pairs along the image borders (corners and ``per_side - 1`` points between them
    on each side), mapped frame to frame, so a deformation keeps the borders in place."""
    t = torch.linspace(0, 1, per_side + 1, dtype=torch.float64)
    u = torch.cat([t, t, torch.zeros_like(t[1:-1]), torch.ones_like(t[1:-1])])
    v = torch.cat([torch.zeros_like(t), torch.ones_like(t), t[1:-1], t[1:-1]])
    frame_src = torch.stack([u * (shape_src[1] - 1), v * (shape_src[0] - 1)], dim=1)
    frame_dst = torch.stack([u * (shape_dst[1] - 1), v * (shape_dst[0] - 1)], dim=1)
    return torch.cat([src.double(), frame_src]), torch.cat([dst.double(), frame_dst])


def apply_matrix(matrix: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` float64 ``points`` mapped by a homogeneous ``(3, 3)`` ``matrix``."""
    return points.double() @ matrix[:2, :2].double().T + matrix[:2, 2].double()


def jacobian_det(flow: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` Jacobian determinant of the map ``p -> p + flow[p]`` (central differences): negative
    where the map folds over itself."""
    dxdy, dxdx = torch.gradient(flow[0].double())
    dydy, dydx = torch.gradient(flow[1].double())
    return (1 + dxdx) * (1 + dydy) - dxdy * dydx


def damped_flow(
    src_points: torch.Tensor,
    dst_points: torch.Tensor,
    shape: tuple[int, int],
    kind: Kind = "affine",
    *,
    frame: bool = False,
    step: int = 1,
    min_det: float = 0.1,
) -> torch.Tensor:
    """:func:`dense_flow` of the pairs, halved until its Jacobian determinant exceeds ``min_det``
    everywhere (so the map neither folds nor collapses; all zero at worst).

    Meant for a residual field on top of a global map: small, so halving it costs little accuracy.
    ``frame`` pins the grid's border in place (:func:`with_frame`).
    """
    if src_points.shape[0] == 0:
        return torch.zeros(2, *shape)
    src, dst = with_frame(src_points, dst_points, shape, shape) if frame else (src_points, dst_points)
    flow = dense_flow(src, dst, shape, kind, step=step)
    for _ in range(8):
        if min(shape) < 2 or float(jacobian_det(flow).min()) > min_det:  # a line of pixels cannot fold
            return flow
        flow = flow * 0.5
    return torch.zeros(2, *shape)


__all__ = [
    "KINDS",
    "apply_matrix",
    "dense_flow",
    "jacobian_det",
    "leave_one_out",
    "mls_transform",
    "damped_flow",
    "warp_image",
    "with_frame",
]
