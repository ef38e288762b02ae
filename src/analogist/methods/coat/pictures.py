"""Pictures of COAT's latent alignment: confident correspondences per scale (Fig. 4c) and contact
sheets over the texture level (Fig. 4).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...io import to_uint8
from ...matching.mutual import Confident


def grid_points(
    conf: Confident, grid_1: tuple[int, int], grid_2: tuple[int, int], size_1: tuple[int, int], size_2: tuple[int, int]
) -> torch.Tensor:
    """The confident pairs as pixel coordinates ``(P, 4)`` (x1, y1, x2, y2) of cell centres."""
    i = conf.mask.nonzero().squeeze(1)
    j = conf.index[i]
    (h1, w1), (h2, w2) = grid_1, grid_2
    sy1, sx1, sy2, sx2 = size_1[0] / h1, size_1[1] / w1, size_2[0] / h2, size_2[1] / w2
    return torch.stack(
        [(i % w1 + 0.5) * sx1, (i // w1 + 0.5) * sy1, (j % w2 + 0.5) * sx2, (j // w2 + 0.5) * sy2], dim=1
    ).float()


def draw_pairs(
    content: torch.Tensor, style: torch.Tensor, points: torch.Tensor, *, max_lines: int = 60, seed: int = 0
) -> np.ndarray:
    """Content and style side by side ``(H, W1 + gap + W2, 3)`` uint8, every confident pair a dot and a
    seeded subset joined by lines (as the paper's Fig. 4c)."""
    import cv2

    a, b = to_uint8(content), to_uint8(style)
    gap = max(4, a.shape[1] // 60)
    canvas = np.full((max(a.shape[0], b.shape[0]), a.shape[1] + gap + b.shape[1], 3), 255, np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    off = a.shape[1] + gap
    canvas[: b.shape[0], off:] = b
    n = points.shape[0]
    hue = ((points[:, 1] / max(a.shape[0], 1)) * 150).numpy().astype(np.uint8)  # colour by content row
    sat = np.full(n, 230, np.uint8)
    colours = cv2.cvtColor(np.stack([hue, sat, np.full(n, 255, np.uint8)], 1)[None], cv2.COLOR_HSV2RGB)[0]
    rad = max(1, round(max(canvas.shape[:2]) / 250))
    pts = points.numpy()
    for (x1, y1, x2, y2), col in zip(pts, colours):
        c = tuple(int(v) for v in col)
        cv2.circle(canvas, (round(x1), round(y1)), rad, c, -1, cv2.LINE_AA)
        cv2.circle(canvas, (round(x2) + off, round(y2)), rad, c, -1, cv2.LINE_AA)
    pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_lines].numpy() if n else []
    for k in pick:
        x1, y1, x2, y2 = pts[k]
        cv2.line(
            canvas,
            (round(x1), round(y1)),
            (round(x2) + off, round(y2)),
            tuple(int(v) for v in colours[k]),
            1,
            cv2.LINE_AA,
        )
    return canvas


def grid_of(image: torch.Tensor) -> tuple[int, int]:
    """The hypercolumn grid ``(ceil(H/4), ceil(W/4))`` of an image."""
    return math.ceil(image.shape[-2] / 4), math.ceil(image.shape[-1] / 4)


def contact_sheet(rows: list[list[torch.Tensor]], height: int = 256, gap: int = 4) -> np.ndarray:
    """Images ``(1, 3, h, w)`` in rows, each resized to ``height`` px high, on white: ``(H, W, 3)`` uint8."""
    pics = [
        [
            to_uint8(
                F.interpolate(
                    im.float(),
                    size=(height, max(1, round(im.shape[-1] * height / im.shape[-2]))),
                    mode="bilinear",
                    align_corners=False,
                    antialias=True,
                ).clamp(0, 1)
            )
            for im in row
        ]
        for row in rows
    ]
    width = max(sum(p.shape[1] for p in row) + gap * (len(row) - 1) for row in pics)
    canvas = np.full((len(pics) * (height + gap) - gap, width, 3), 255, np.uint8)
    for r, row in enumerate(pics):
        x = 0
        for p in row:
            canvas[r * (height + gap) : r * (height + gap) + height, x : x + p.shape[1]] = p
            x += p.shape[1] + gap
    return canvas


__all__ = ["grid_points", "draw_pairs", "grid_of", "contact_sheet"]
