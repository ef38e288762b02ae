"""Dense flow fields: conventions, resizing and colour-wheel pictures (composition: synthesis.warp).

A flow is a float tensor ``(2, H, W)`` holding ``(dx, dy)`` in pixels: pixel ``(x, y)`` of the source
corresponds to ``(x + dx, y + dy)`` in the target. A nearest-neighbour field (NNF) is the same thing
stored as absolute target coordinates; :func:`nnf_to_flow` and :func:`flow_to_nnf` convert.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def identity_grid(
    h: int, w: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Absolute pixel coordinates ``(2, H, W)``: channel 0 is x, channel 1 is y."""
    ys = torch.arange(h, dtype=dtype, device=device)
    xs = torch.arange(w, dtype=dtype, device=device)
    ys, xs = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xs, ys])


def nnf_to_flow(nnf: torch.Tensor) -> torch.Tensor:
    """Absolute target coordinates ``(2, H, W)`` to displacements ``(2, H, W)``."""
    return nnf.float() - identity_grid(*nnf.shape[-2:], device=nnf.device)


def flow_to_nnf(flow: torch.Tensor) -> torch.Tensor:
    """Displacements ``(2, H, W)`` to absolute target coordinates ``(2, H, W)``."""
    return flow + identity_grid(*flow.shape[-2:], dtype=flow.dtype, device=flow.device)


def pixel_flow_to_grid(
    flow: torch.Tensor,
    grid: tuple[int, int],
    target_grid: tuple[int, int],
    target_size: tuple[int, int],
    *,
    mode: str = "area",
) -> torch.Tensor:
    """Where a pixel flow ``(2, H, W)`` into an image of ``target_size`` ``(Ht, Wt)`` sends the cells of a
    grid ``grid`` ``(h, w)`` laid over its source: points ``(2, h, w)`` ``(x, y)`` of the target's grid
    ``target_grid`` ``(ht, wt)``, cell centres at integers (the inverse of
    :func:`analogist.matching.affine_field.grid_to_pixel_flow`).

    A cell moves by the flow's mean over its pixels (``mode="area"``) or by the flow at its centre
    (``"bilinear"``); pixel centres are aligned, cell ``x`` sitting at pixel ``(x + 0.5) W / w - 0.5``.
    """
    if mode not in ("area", "bilinear"):
        raise ValueError(f"mode must be 'area' or 'bilinear', got {mode!r}")
    (big_h, big_w), (h, w) = flow.shape[-2:], grid
    corners = {"align_corners": False} if mode == "bilinear" else {}
    cell = F.interpolate(flow[None], size=grid, mode=mode, **corners)[0]
    xs, ys = identity_grid(h, w, dtype=flow.dtype, device=flow.device)
    px, py = (xs + 0.5) * (big_w / w) - 0.5, (ys + 0.5) * (big_h / h) - 0.5  # cell centres in pixels
    tx = (px + cell[0] + 0.5) * (target_grid[1] / target_size[1]) - 0.5
    ty = (py + cell[1] + 0.5) * (target_grid[0] / target_size[0]) - 0.5
    return torch.stack([tx, ty])


def resize_flow(
    flow: torch.Tensor, size: tuple[int, int], target_scale: tuple[float, float] | None = None
) -> torch.Tensor:
    """Resample a flow ``(2, h, w)`` to ``(2, H, W)`` bilinearly and rescale its vectors.

    Args:
        size: new ``(H, W)`` of the source grid.
        target_scale: ``(sx, sy)`` by which the target image was scaled; defaults to the source's
            scale (both images resized alike).
    """
    h, w = flow.shape[-2:]
    H, W = size
    sx, sy = target_scale if target_scale is not None else (W / w, H / h)
    # absolute coordinates are resampled (pixel centres aligned), then scaled into the new target
    nnf = flow_to_nnf(flow)
    up = F.interpolate(nnf[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    up = torch.stack([(up[0] + 0.5) * sx - 0.5, (up[1] + 0.5) * sy - 0.5])
    return up - identity_grid(H, W, dtype=up.dtype, device=up.device)


def flow_to_color(flow: torch.Tensor | np.ndarray, max_norm: float | None = None) -> np.ndarray:
    """Middlebury colour-wheel picture ``(H, W, 3)`` uint8 of a flow ``(2, H, W)``.

    Hue encodes direction and saturation the magnitude, normalised by ``max_norm`` (default: the
    largest finite vector). Unknown vectors (non-finite or > 1e9) are black.
    """
    f = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow, dtype=np.float32)
    u, v = f[0].astype(np.float64), f[1].astype(np.float64)
    bad = ~np.isfinite(u) | ~np.isfinite(v) | (np.abs(u) > 1e9) | (np.abs(v) > 1e9)
    u, v = np.where(bad, 0, u), np.where(bad, 0, v)
    mag = np.hypot(u, v)
    top = max_norm if max_norm is not None else (mag.max() if mag.size else 0.0)
    top = top if top > 0 else 1.0
    wheel = _color_wheel()
    n = wheel.shape[0]
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    fk = (angle + 1) / 2 * (n - 1)
    k0 = np.floor(fk).astype(int)
    k1 = (k0 + 1) % n
    frac = (fk - k0)[..., None]
    col = (1 - frac) * wheel[k0] + frac * wheel[k1]
    rad = np.clip(mag / top, 0, 1)[..., None]
    col = 1 - rad * (1 - col)
    col[bad] = 0
    return (col * 255 + 0.5).astype(np.uint8)


def _color_wheel() -> np.ndarray:
    """Baker et al.'s 55-colour wheel (RY, YG, GC, CB, BM, MR segments), values in [0, 1]."""
    segments = [
        (15, (1, 0, 0), (1, 1, 0)),
        (6, (1, 1, 0), (0, 1, 0)),
        (4, (0, 1, 0), (0, 1, 1)),
        (11, (0, 1, 1), (0, 0, 1)),
        (13, (0, 0, 1), (1, 0, 1)),
        (6, (1, 0, 1), (1, 0, 0)),
    ]
    rows = []
    for n, a, b in segments:
        t = np.arange(n)[:, None] / n
        rows.append(np.array(a) * (1 - t) + np.array(b) * t)
    return np.concatenate(rows).astype(np.float64)
