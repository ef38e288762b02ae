"""Neural Best-Buddies drawn: the pairs as coloured points on both images."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .params import BuddiesResult

if TYPE_CHECKING:
    import numpy as np


def draw_buddies(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    result: BuddiesResult,
    indices: torch.Tensor | None = None,
    *,
    circles: bool = True,
) -> np.ndarray:
    """Side-by-side picture ``(H, Wa + gap + Wb, 3)`` uint8 of pairs in matching colours (Fig. 1).

    Each pair gets a dot at its pixel and, with ``circles``, circles around its ancestors at the
    coarsest and the middle level whose radii are the neighbourhoods those levels compared (their
    receptive fields); drawing every level would hide the images.

    Args:
        image_a, image_b: the images given to :func:`neural_best_buddies`.
        indices: pairs to draw (default ``result.top_k``).
    """
    import cv2
    import numpy as np

    from ...io import to_uint8

    a, b = to_uint8(image_a), to_uint8(image_b)
    gap = max(4, a.shape[1] // 60)
    h = max(a.shape[0], b.shape[0])
    canvas = np.full((h, a.shape[1] + gap + b.shape[1], 3), 255, np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], a.shape[1] + gap :] = b
    off = a.shape[1] + gap
    idx = result.top_k if indices is None else indices
    n = int(idx.numel())
    hues = (np.arange(n) * 180 // max(n, 1)).astype(np.uint8)
    colours = cv2.cvtColor(
        np.stack([hues, np.full(n, 230, np.uint8), np.full(n, 255, np.uint8)], 1)[None], cv2.COLOR_HSV2RGB
    )[0]
    thick = max(1, round(max(h, canvas.shape[1] / 2) / 300))
    img = np.ascontiguousarray(canvas)
    if circles:
        for lv in sorted({0, len(result.levels) // 2}):
            anc = result.ancestors(lv)[idx]
            pts = result.level_points(lv)[anc].numpy()
            ra, rb = result.receptive_radius(lv)
            for (xa, ya, xb, yb), col in zip(pts, colours):
                c = tuple(int(v) for v in col)
                cv2.circle(img, (round(xa), round(ya)), max(2, round(ra)), c, 1, cv2.LINE_AA)
                cv2.circle(img, (round(xb) + off, round(yb)), max(2, round(rb)), c, 1, cv2.LINE_AA)
    for (xa, ya, xb, yb), col in zip(result.points[idx].numpy(), colours):
        c = tuple(int(v) for v in col)
        for x, y in ((round(xa), round(ya)), (round(xb) + off, round(yb))):
            cv2.circle(img, (x, y), 2 * thick + 2, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(img, (x, y), 2 * thick + 1, c, -1, cv2.LINE_AA)
    return img
