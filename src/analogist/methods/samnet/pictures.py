"""SAM-Net drawn: the affine field over the target, and every iteration's result side by side."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ...io import to_uint8
from ...matching.affine_field import field_targets
from ...synthesis.warp import backward_warp
from .core import SAMNetResult, transfer_mask


def affine_picture(target: torch.Tensor, result: SAMNetResult) -> np.ndarray:
    """The source feature lattice mapped into the target by the affine field, drawn over the target."""
    img = Image.fromarray(to_uint8(target))
    h, w = result.field.shape[-2:]
    ht, wt = target.shape[-2:]
    grid_t = result.grid_t
    pts = field_targets(result.field).cpu().numpy()
    x = (pts[0] + 0.5) * wt / grid_t[1] - 0.5
    y = (pts[1] + 0.5) * ht / grid_t[0] - 0.5
    conf = result.cell_confidence.cpu().numpy()
    draw = ImageDraw.Draw(img)
    for i in range(h):
        for j in range(w):
            col = (255, int(255 * (1 - conf[i, j])), 0)
            if j + 1 < w:
                draw.line([(x[i, j], y[i, j]), (x[i, j + 1], y[i, j + 1])], fill=col, width=1)
            if i + 1 < h:
                draw.line([(x[i, j], y[i, j]), (x[i + 1, j], y[i + 1, j])], fill=col, width=1)
    return np.asarray(img)


def iteration_strip(result: SAMNetResult, target: torch.Tensor) -> np.ndarray:
    """One column per iteration: stylised source (top) and target warped by that iteration's flow."""
    cols = [
        np.concatenate([to_uint8(it.stylised), to_uint8(backward_warp(target, it.flow))], 0) for it in result.iterations
    ]
    gap = np.full((cols[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([c for col in cols for c in (col, gap)][:-1], 1)


def warp_labels(labels: Image.Image, flow: torch.Tensor) -> Image.Image:
    """The target's label image pulled onto the source through ``flow`` (same mode and palette)."""
    out = Image.fromarray(transfer_mask(np.asarray(labels), flow), mode=None if labels.mode != "1" else "L")
    if labels.mode == "P":
        out = out.convert("L") if out.mode != "L" else out
        out.putpalette(labels.getpalette())
        out = out.convert("P") if out.mode != "P" else out
    return out
