"""Warping images and feature maps through correspondences."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample(source: torch.Tensor, coords: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """Read ``source`` ``(B, C, h, w)`` at absolute pixel coordinates ``coords`` ``(2, H, W)`` (x, y).

    Returns ``(B, C, H, W)``. Coordinates outside the source are clamped to its border.
    """
    h, w = source.shape[-2:]
    gx = coords[0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = coords[1] * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)[None].expand(source.shape[0], -1, -1, -1).to(source.dtype)
    return F.grid_sample(source, grid, mode=mode, padding_mode="border", align_corners=True)


def backward_warp(source: torch.Tensor, flow: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """Pull ``source`` ``(B, C, h, w)`` through ``flow`` ``(2, H, W)``: ``out[p] = source[p + flow[p]]``."""
    from ..matching.flow import flow_to_nnf

    return sample(source, flow_to_nnf(flow), mode=mode)
