"""Warping images and feature maps through correspondences."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..matching.flow import flow_to_nnf


def sample(
    source: torch.Tensor, coords: torch.Tensor, *, mode: str = "bilinear", padding: str = "border"
) -> torch.Tensor:
    """Read ``source`` ``(B, C, h, w)`` at absolute pixel coordinates ``coords`` ``(2, H, W)`` (x, y).

    Returns ``(B, C, H, W)``. Coordinates outside the source are clamped to its border, or with
    ``padding="reflection"`` mirrored at it (no streaks where a large area lies outside).
    """
    h, w = source.shape[-2:]
    gx = coords[0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = coords[1] * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)[None].expand(source.shape[0], -1, -1, -1).to(source.dtype)
    return F.grid_sample(source, grid, mode=mode, padding_mode=padding, align_corners=True)


def inside(coords: torch.Tensor, shape: tuple[int, int], feather: float = 2.0) -> torch.Tensor:
    """``(1, 1, H, W)`` in [0, 1]: 1 where absolute pixel coordinates ``coords`` ``(2, H, W)`` fall on an
    image of ``shape`` ``(h, w)``, 0 beyond ``feather`` pixels outside it, linear in between."""
    h, w = shape
    x, y = coords[0], coords[1]
    depth = torch.minimum(torch.minimum(x + 0.5, w - 0.5 - x), torch.minimum(y + 0.5, h - 0.5 - y))
    return (1 + depth / feather).clamp(0, 1)[None, None]


def backward_warp(source: torch.Tensor, flow: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """Pull ``source`` ``(B, C, h, w)`` through ``flow`` ``(2, H, W)``: ``out[p] = source[p + flow[p]]``."""
    return sample(source, flow_to_nnf(flow), mode=mode)


def vote(source: torch.Tensor, nnf: torch.Tensor, patch: int) -> torch.Tensor:
    """Average patch voting: rebuild a map from the patches of ``source`` an NNF points at.

    Args:
        source: ``(B, C, hs, ws)`` map the NNF points into.
        nnf: ``(2, H, W)`` long absolute ``(x, y)`` coordinates into ``source``.
        patch: odd patch side.

    Returns:
        ``(B, C, H, W)``: pixel ``p`` averages ``source[nnf[p - o] + o]`` over every offset ``o`` of
        the patch for which ``p - o`` is inside the query and ``nnf[p - o] + o`` inside the source
        (the overlapping patches of its neighbours, as in the authors' ``avg_vote``).
    """
    b, c, hs, ws = source.shape
    h, w = nnf.shape[-2:]
    r = patch // 2
    # channels-last rows: each gather copies whole feature vectors
    flat = source.reshape(b, c, hs * ws).transpose(1, 2).contiguous()
    total = source.new_zeros(b, h * w, c)
    count = source.new_zeros(h * w)
    ys_all, xs_all = torch.arange(h, device=nnf.device), torch.arange(w, device=nnf.device)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            # neighbour q = p - o votes with its match shifted by o
            sy, sx = ys_all - dy, xs_all - dx
            inside = ((sy >= 0) & (sy < h))[:, None] & ((sx >= 0) & (sx < w))[None]
            q = nnf[:, sy.clamp(0, h - 1)[:, None], sx.clamp(0, w - 1)[None]]
            tx, ty = q[0] + dx, q[1] + dy
            ok = inside & (tx >= 0) & (tx < ws) & (ty >= 0) & (ty < hs)
            idx = (ty.clamp(0, hs - 1) * ws + tx.clamp(0, ws - 1)).flatten()
            okf = ok.flatten().to(source.dtype)
            total += flat.index_select(1, idx) * okf[:, None]
            count += okf
    return (total / count.clamp_min(1)[:, None]).transpose(1, 2).reshape(b, c, h, w).contiguous()


def compose(flow_ab: torch.Tensor, flow_bc: torch.Tensor) -> torch.Tensor:
    """Flow A to C from A to B and B to C: ``f_ac(p) = f_ab(p) + f_bc(p + f_ab(p))`` (bilinear lookup)."""
    nnf = flow_to_nnf(flow_ab)
    return flow_ab + sample(flow_bc[None], nnf)[0]
