"""Seeded augmentation: photometric jitter, and random affine and thin-plate-spline warps that return
their ground-truth flow (synthetic pairs for learning correspondence, as SAM-Net's training does).

Every random number comes from the ``torch.Generator`` passed in (a CPU generator; the results are
moved to the images' device), never from the global RNG, so a seeded generator repeats exactly.

Warps follow the project's flow convention (:mod:`analogist.matching.flow`) on the warped image's
grid: ``warped[:, :, y, x] = images[:, :, y + flow[:, 1, y, x], x + flow[:, 0, y, x]]``, i.e. ``flow``
maps each warped pixel to where it came from in the input. Pixels that came from outside the input
are filled from its border; :func:`inside` marks the ones that did not.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.interpolate import RBFInterpolator


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def jitter(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    brightness: float = 0.2,
    contrast: float = 0.2,
    saturation: float = 0.2,
    gamma: float = 0.2,
) -> torch.Tensor:
    """Per-image random brightness, contrast, saturation and gamma of ``(B, 3, H, W)`` in [0, 1].

    Each factor is drawn uniformly from ``[1 - s, 1 + s]`` for strength ``s`` (0 disables it).
    Returns ``(B, 3, H, W)`` clamped to [0, 1].
    """
    b = images.shape[0]
    factors = [_uniform(b, 1 - s, 1 + s, generator) for s in (brightness, contrast, saturation, gamma)]
    f = [x.to(images.device, images.dtype).view(b, 1, 1, 1) for x in factors]
    x = images * f[0]
    gray = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = (x - gray.mean(dim=(2, 3), keepdim=True)) * f[1] + gray.mean(dim=(2, 3), keepdim=True)
    gray = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = (x - gray) * f[2] + gray
    return x.clamp(0.0, 1.0).pow(f[3])


def grid(h: int, w: int, *, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pixel coordinates ``(2, H, W)`` (x, y) on ``device``."""
    ys, xs = torch.meshgrid(
        torch.arange(h, device=device, dtype=dtype), torch.arange(w, device=device, dtype=dtype), indexing="ij"
    )
    return torch.stack([xs, ys])


def warp(images: torch.Tensor, flow: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """Pull ``images`` ``(B, C, h, w)`` through per-image flows ``(B, 2, H, W)``: ``(B, C, H, W)``.

    Sources outside the image read its border.
    """
    h, w = images.shape[-2:]
    coords = flow + grid(*flow.shape[-2:], device=flow.device, dtype=flow.dtype)
    gx = coords[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = coords[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(
        images, torch.stack([gx, gy], dim=-1).to(images.dtype), mode=mode, padding_mode="border", align_corners=True
    )


def inside(flow: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: which pixels of ``flow`` ``(B, 2, H, W)`` come from inside a source of
    ``size`` ``(h, w)`` (default the flow's own size)."""
    h, w = size if size is not None else flow.shape[-2:]
    coords = flow + grid(*flow.shape[-2:], device=flow.device, dtype=flow.dtype)
    ok = (coords[:, 0] >= 0) & (coords[:, 0] <= w - 1) & (coords[:, 1] >= 0) & (coords[:, 1] <= h - 1)
    return ok[:, None]


def affine_flow(matrices: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Flows ``(B, 2, H, W)`` of affine maps ``(B, 2, 3)`` that send a warped pixel ``(x, y, 1)`` to its
    source, in pixel coordinates."""
    h, w = size
    g = grid(h, w, device=matrices.device, dtype=matrices.dtype).reshape(2, -1)
    homog = torch.cat([g, torch.ones_like(g[:1])])
    src = matrices @ homog  # (B, 2, H*W)
    return (src - g).reshape(-1, 2, h, w)


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    rotate: float = 15.0,
    scale: tuple[float, float] = (0.8, 1.25),
    shear: float = 0.1,
    translate: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp each image of ``(B, C, H, W)`` by its own random affine map about the image centre.

    Args:
        rotate: largest rotation in degrees. scale: range of the zoom (log-uniform).
        shear: largest shear factor. translate: largest shift as a fraction of each side.

    Returns:
        ``(warped (B, C, H, W), flow (B, 2, H, W))`` with the convention of this module.
    """
    b, (h, w) = images.shape[0], images.shape[-2:]
    angle = _uniform(b, -rotate, rotate, generator) * math.pi / 180
    zoom = torch.exp(_uniform(b, math.log(scale[0]), math.log(scale[1]), generator))
    sh = _uniform(b, -shear, shear, generator)
    tx, ty = _uniform(b, -translate, translate, generator) * w, _uniform(b, -translate, translate, generator) * h
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward map A = R(angle) * zoom * [[1, sh], [0, 1]] about the centre, then the shift
    a = (
        torch.stack([torch.stack([cos, cos * sh - sin], -1), torch.stack([sin, sin * sh + cos], -1)], -2)
        * zoom[:, None, None]
    )
    centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=torch.float64)
    inv = torch.linalg.inv(a)
    shift = centre + torch.stack([tx, ty], -1)
    # warped q = A (p - c) + c + t  =>  p = A^-1 (q - c - t) + c
    offset = centre - (inv @ shift[..., None])[..., 0]
    matrices = torch.cat([inv, offset[..., None]], dim=2)
    flow = affine_flow(matrices, (h, w)).to(images.device, torch.float32)
    return warp(images, flow.to(images.dtype)), flow


def tps_flow(source_points: np.ndarray, warped_points: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Flow ``(2, H, W)`` of the thin-plate spline sending ``warped_points`` ``(K, 2)`` (x, y) exactly to
    ``source_points`` ``(K, 2)``, evaluated at every pixel of an ``(H, W)`` image."""
    h, w = size
    spline = RBFInterpolator(warped_points, source_points - warped_points, kernel="thin_plate_spline")
    ys, xs = np.mgrid[0:h, 0:w]
    flow = spline(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64))
    return torch.from_numpy(flow.T.reshape(2, h, w).astype(np.float32))


def random_tps(
    images: torch.Tensor, generator: torch.Generator, *, points: int = 4, strength: float = 0.08
) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp each image of ``(B, C, H, W)`` by its own random thin-plate spline.

    A ``points x points`` grid of control points spanning the image (border included) moves by
    uniform random offsets of up to ``strength`` times the image side.

    Returns:
        ``(warped (B, C, H, W), flow (B, 2, H, W))`` with the convention of this module.
    """
    b, (h, w) = images.shape[0], images.shape[-2:]
    gy, gx = np.meshgrid(np.linspace(0, h - 1, points), np.linspace(0, w - 1, points), indexing="ij")
    anchors = np.stack([gx.ravel(), gy.ravel()], axis=1)
    moves = (torch.rand(b, points * points, 2, generator=generator, dtype=torch.float64) * 2 - 1).numpy()
    moves = moves * strength * np.array([w, h])
    flow = torch.stack([tps_flow(anchors + m, anchors, (h, w)) for m in moves]).to(images.device)
    return warp(images, flow.to(images.dtype)), flow


__all__ = ["jitter", "grid", "warp", "inside", "affine_flow", "random_affine", "tps_flow", "random_tps"]
