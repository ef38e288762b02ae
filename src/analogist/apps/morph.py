"""Fully automatic morphing driven by best buddies (Neural Best-Buddies section 5.3 without the
user's help): every frame deforms both images by moving least squares to points interpolated along
the pairs' motion paths and cross-dissolves them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..matching.mls import Kind, warp_image, with_frame
from ..progress import Progress, silent
from .align import _b_in_a_frame


def morph(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    points: torch.Tensor,
    frames: int = 25,
    kind: Kind = "affine",
    *,
    step: int = 4,
    progress: Progress = silent,
) -> list[torch.Tensor]:
    """Morph sequence from A to B, in A's frame.

    Args:
        image_a: ``(1, 3, Ha, Wa)``; image_b: ``(1, 3, Hb, Wb)`` (resized to A's frame).
        points: ``(N, 4)`` ``(xa, ya, xb, yb)`` pairs (the spread top-k work best: dense, noisy
            pairs make the deformation fold).
        frames: number of frames, first = A and last = B (at least 2).
        kind: MLS variant of the per-frame deformations.
        step: MLS evaluation stride in pixels (the fields are smooth; 4 is visually exact).

    Returns:
        ``frames`` tensors ``(1, 3, Ha, Wa)`` in [0, 1].
    """
    if frames < 2:
        raise ValueError("a morph needs at least 2 frames")
    shape = tuple(image_a.shape[-2:])
    b_img = (
        image_b
        if tuple(image_b.shape[-2:]) == shape
        else F.interpolate(image_b, size=shape, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    )
    pa = points[:, 0:2].double()
    pb = _b_in_a_frame(points, shape, tuple(image_b.shape[-2:]))
    out = []
    for i in progress(range(frames), total=frames, desc="morph"):
        t = i / (frames - 1)
        # straight motion paths; the dissolve follows a smoothstep so the middle frames blend longest
        mid = (1 - t) * pa + t * pb
        s = t * t * (3 - 2 * t)
        if i == 0:
            out.append(image_a.clone())
            continue
        if i == frames - 1:
            out.append(b_img.clone())
            continue
        wa = warp_image(image_a, *with_frame(pa, mid, shape, shape), shape, kind, step=step)
        wb = warp_image(b_img, *with_frame(pb, mid, shape, shape), shape, kind, step=step)
        out.append(((1 - s) * wa + s * wb).clamp(0, 1))
    return out


__all__ = ["morph"]
