"""Dense fields of local affine transforms (SAM-Net, Kim et al. CVPR 2019, Eq. 5-7), training-free.

A field is a tensor ``(6, h, w)`` over a source feature grid: cell ``(x, y)`` holds the rows of a 2x3
affine ``[[a, b, c], [d, e, f]]`` that maps *any* source grid point ``(u, v)`` to the target grid point
``(a u + b v + c, d u + e v + f)`` (global coordinates, cell centres at integers). The cell's own match
is the transform applied to itself. Correlations over a local window are ``(K, h, w)`` with
``K = (2r + 1)^2`` offsets ordered row-major from ``(-r, -r)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..synthesis.warp import sample
from .flow import identity_grid


def window_offsets(radius: int, like: torch.Tensor) -> torch.Tensor:
    """``(K, 2)`` integer offsets ``(dx, dy)`` of a ``(2r+1)^2`` window, row-major, as ``like``'s dtype."""
    r = torch.arange(-radius, radius + 1, device=like.device, dtype=like.dtype)
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([dx.flatten(), dy.flatten()], 1)


def identity_field(
    size: tuple[int, int], target_size: tuple[int, int] | None = None, *, like: torch.Tensor | None = None
) -> torch.Tensor:
    """The field that maps each source cell to the same relative place of the target grid ``(6, h, w)``
    (the exact identity when both grids have the same size)."""
    h, w = size
    ht, wt = target_size or size
    ref = like if like is not None else torch.zeros(())
    field = ref.new_zeros(6, h, w, dtype=ref.dtype if ref.is_floating_point() else torch.float32)
    sx, sy = wt / w, ht / h
    # centres aligned: (u + 0.5) * s - 0.5
    field[0], field[2] = sx, 0.5 * sx - 0.5
    field[4], field[5] = sy, 0.5 * sy - 0.5
    return field


def apply_field(field: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Each cell's transform applied to points ``xs``, ``ys`` ``(h, w)`` -> target points ``(2, h, w)``."""
    return torch.stack([field[0] * xs + field[1] * ys + field[2], field[3] * xs + field[4] * ys + field[5]])


def field_targets(field: torch.Tensor) -> torch.Tensor:
    """Each cell's own match: absolute target grid coordinates ``(2, h, w)``."""
    xs, ys = identity_grid(*field.shape[-2:], dtype=field.dtype, device=field.device)
    return apply_field(field, xs, ys)


def window_correlation(
    fs: torch.Tensor, ft: torch.Tensor, centres: torch.Tensor, radius: int, chunk: int = 2048
) -> torch.Tensor:
    """Cosine similarities ``(K, h, w)`` of source features ``fs`` ``(1, C, h, w)`` with target features
    ``ft`` ``(1, C, ht, wt)`` at ``centres + offset`` for every window offset.

    ``centres`` ``(2, h, w)`` are target grid points (the current matches). Between cells the cosine is
    interpolated bilinearly (one matrix product of all cell pairs, then a lookup: far cheaper than
    resampling the features once per offset). Offsets falling outside the target score -1, so they are
    never preferred.
    """
    c, h, w = fs.shape[-3:]
    ht, wt = ft.shape[-2:]
    a = F.normalize(fs, dim=1)[0].reshape(c, h * w)
    b = F.normalize(ft, dim=1)[0].reshape(c, ht * wt)
    off = window_offsets(radius, centres)  # (K, 2)
    k = off.shape[0]
    pts = centres.reshape(2, 1, h * w) + off.t()[:, :, None]  # (2, K, h*w)
    # grid_sample coordinates (align_corners=True: -1 and 1 are the outer cell centres)
    grid = torch.stack([pts[0] * (2.0 / max(wt - 1, 1)) - 1.0, pts[1] * (2.0 / max(ht - 1, 1)) - 1.0], -1)
    out = []
    for s in range(0, h * w, chunk):
        e = min(s + chunk, h * w)
        full = (a[:, s:e].t() @ b).reshape(e - s, 1, ht, wt)
        g = grid[:, s:e].permute(1, 0, 2)[:, :, None]  # (n, K, 1, 2)
        out.append(F.grid_sample(full, g, mode="bilinear", padding_mode="border", align_corners=True)[:, 0, :, 0])
    corr = torch.cat(out).t().reshape(k, h, w)
    pts = pts.reshape(2, k, h, w)
    inside = (pts[0] >= -0.5) & (pts[0] <= wt - 0.5) & (pts[1] >= -0.5) & (pts[1] <= ht - 0.5)
    return torch.where(inside, corr, torch.full_like(corr, -1.0))


def l2_normalize_window(corr: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 5's normalisation: each cell's window vector ``(K, h, w)`` divided by its L2 norm."""
    return corr / corr.norm(dim=0, keepdim=True).clamp_min(eps)


def self_window(fs: torch.Tensor, radius: int) -> torch.Tensor:
    """The L2-normalised window correlations ``(K, h, w)`` of features ``fs`` ``(1, C, h, w)`` against
    themselves at the identity: what a perfect match looks like, which a matcher's answer to it is
    measured on (and subtracted) so that identical images stay at the identity."""
    ident = field_targets(identity_field(tuple(fs.shape[-2:]), like=fs))
    return l2_normalize_window(window_correlation(fs, fs, ident, radius))


def soft_argmax(
    corr: torch.Tensor, radius: int, beta: float, kernel_sigma: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sub-cell displacement of the best match in each window.

    ``probs = softmax(beta * corr)`` over the window; the displacement is the probability-weighted mean
    offset under a Gaussian kernel (``kernel_sigma`` cells) centred on the arg-max, so that two distant
    peaks do not average into a place between them (kernel soft-argmax).

    Returns:
        ``disp (2, h, w)`` in target cells, ``confidence (h, w)``: the softmax at the matched position
        (Eq. 9), and ``probs (K, h, w)``.
    """
    probs = torch.softmax(beta * corr, dim=0)
    off = window_offsets(radius, corr)  # (K, 2)
    best = off[corr.argmax(0)]  # (h, w, 2)
    d2 = ((off[:, None, None, :] - best[None]) ** 2).sum(-1)  # (K, h, w)
    wts = probs * torch.exp(-d2 / (2 * kernel_sigma**2))
    wts = wts / wts.sum(0, keepdim=True).clamp_min(1e-12)
    disp = torch.einsum("khw,kc->chw", wts, off)
    conf = probs.amax(0)
    return disp, conf, probs


def fit_affine_field(
    targets: torch.Tensor, weights: torch.Tensor, radius: int, ridge: float, prior: torch.Tensor | None = None
) -> torch.Tensor:
    """Weighted local least-squares affine fit (the training-free G of Eq. 7).

    For each cell ``i``, the 2x3 transform ``A_i`` minimising ``sum_k w_k |A_i [k, 1] - targets_k|^2`` over
    the ``(2 radius + 1)^2`` cells ``k`` around ``i`` plus ``ridge * sum_k w_k`` times the squared distance of
    its linear part from the ``prior``'s (default: the identity scale), which keeps flat or ambiguous
    neighbourhoods from tilting.

    Args:
        targets: ``(2, h, w)`` target grid points of each cell.
        weights: ``(h, w)`` non-negative confidences.

    Returns:
        ``(6, h, w)`` field.
    """
    h, w = targets.shape[-2:]
    n = 2 * radius + 1
    off = window_offsets(radius, targets)  # (n*n, 2): neighbour minus centre
    dx, dy = off[:, 0].reshape(n, n), off[:, 1].reshape(n, n)
    basis = torch.stack([torch.ones_like(dx), dx, dy])  # local coordinates (1, dx, dy)
    # moments: S_ab = sum w * basis_a * basis_b ; R_ca = sum w * t_c * basis_a (convolutions with the basis)
    kern_s = (basis[:, None] * basis[None]).reshape(9, 1, n, n)
    kern_r = basis.reshape(3, 1, n, n)
    # a floor on the weights keeps every neighbourhood solvable (an all-zero one follows its targets)
    wt = (weights.clamp_min(0) + 1e-4)[None, None]
    s = F.conv2d(wt, kern_s, padding=radius)[0].reshape(3, 3, h, w).permute(2, 3, 0, 1)
    r = torch.cat([F.conv2d(wt * targets[c][None, None], kern_r, padding=radius) for c in range(2)], 0)
    r = r.reshape(2, 3, h, w).permute(2, 3, 1, 0)  # (h, w, 3, 2)
    xs, ys = identity_grid(h, w, dtype=targets.dtype, device=targets.device)
    if prior is None:
        prior = identity_field((h, w), like=targets)
    lin = torch.stack([torch.stack([prior[0], prior[3]], -1), torch.stack([prior[1], prior[4]], -1)], -2)
    # ridge on the linear rows (dx, dy) toward the prior's linear part: (h, w, 2, 2) of [a d; b e]
    lam = (max(ridge, 1e-4) * s[..., 0, 0])[..., None, None]
    eye = torch.zeros(3, 3, dtype=targets.dtype, device=targets.device)
    eye[1, 1] = eye[2, 2] = 1.0
    s = s + lam * eye
    r = r.clone()
    r[..., 1:, :] += lam * lin
    sol = torch.linalg.solve(s, r)  # (h, w, 3, 2): rows (c, a, b) in local coordinates per output
    t, a, b = sol[..., 0, :], sol[..., 1, :], sol[..., 2, :]
    # local (about the cell) to global: t + a (u - x) + b (v - y)
    c = t - a * xs[..., None] - b * ys[..., None]
    return torch.stack([a[..., 0], b[..., 0], c[..., 0], a[..., 1], b[..., 1], c[..., 1]])


def field_to_flow(
    field: torch.Tensor, grid_t: tuple[int, int], size: tuple[int, int], target_size: tuple[int, int]
) -> torch.Tensor:
    """The dense pixel flow ``(2, H, W)`` a field over a source grid implies from an image of ``size``
    ``(H, W)`` into an image of ``target_size`` whose feature grid is ``grid_t`` ``(ht, wt)``.

    The transforms are interpolated bilinearly between cell centres and applied to each pixel's own grid
    position, so the flow is smooth inside cells, not blocky.
    """
    up, gx, gy = field_at(field, size)
    return grid_to_pixel_flow(apply_field(up, gx, gy), grid_t, target_size)


def field_at(field: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A field ``(6, h, w)`` read bilinearly (border-clamped) at the centres of a finer ``size`` ``(H, W)``
    grid laid over it, centres aligned: the transforms ``(6, H, W)`` and where they were read, ``gx``
    and ``gy`` ``(H, W)`` in cells of the field."""
    h, w = field.shape[-2:]
    H, W = size
    px = (torch.arange(W, device=field.device, dtype=field.dtype) + 0.5) / (W / w) - 0.5
    py = (torch.arange(H, device=field.device, dtype=field.dtype) + 0.5) / (H / h) - 0.5
    gy, gx = torch.meshgrid(py, px, indexing="ij")
    return sample(field[None], torch.stack([gx, gy]))[0], gx, gy


def grid_to_pixel_flow(targets: torch.Tensor, grid_t: tuple[int, int], image_t: tuple[int, int]) -> torch.Tensor:
    """Target grid points ``(2, H, W)`` (one per source pixel) to a pixel flow ``(2, H, W)`` into an image
    of ``image_t`` ``(Ht, Wt)`` whose feature grid is ``grid_t`` ``(ht, wt)``."""
    H, W = targets.shape[-2:]
    tx = (targets[0] + 0.5) * (image_t[1] / grid_t[1]) - 0.5
    ty = (targets[1] + 0.5) * (image_t[0] / grid_t[0]) - 0.5
    xs, ys = identity_grid(H, W, dtype=targets.dtype, device=targets.device)
    return torch.stack([tx - xs, ty - ys])


__all__ = [
    "apply_field",
    "field_at",
    "field_targets",
    "field_to_flow",
    "fit_affine_field",
    "grid_to_pixel_flow",
    "identity_field",
    "l2_normalize_window",
    "self_window",
    "soft_argmax",
    "window_correlation",
    "window_offsets",
]
