"""Fully automatic morphing driven by best buddies (Neural Best-Buddies section 5.3 without the
user's help): every frame moves both images part of the way from A's geometry to B's and
cross-dissolves them.

The motion is :func:`analogist.apps.align.align`'s: the pairs' robust global map (a similarity by
default), interpolated linearly, carries both images, and moving least squares adds the rest at the
pairs that agree with it, so that the pairs travel on straight paths and the middle frame is the
alignment. Outlier pairs take no part, which keeps the middle frames from showing two objects.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..matching.mls import Kind
from ..progress import Progress, silent
from .align import _pair_at, _plan, mix
from .pair_fit import FitParams


def morph(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    points: torch.Tensor,
    frames: int = 25,
    kind: Kind = "affine",
    *,
    step: int = 4,
    progress: Progress = silent,
    params: FitParams | None = None,
) -> list[torch.Tensor]:
    """Morph sequence from A to B, in A's frame.

    Args:
        image_a: ``(1, 3, Ha, Wa)``; image_b: ``(1, 3, Hb, Wb)`` (resized to A's frame).
        points: ``(N, 4)`` ``(xa, ya, xb, yb)`` pairs (the spread top-k work best; pairs that
            disagree with the others' global map are left out).
        frames: number of frames, first = A and last = B (at least 2).
        kind: MLS variant of the per-frame residual deformations.
        step: MLS evaluation stride in pixels (the fields are smooth; 4 is visually exact).
        params: the global map and residual (default :class:`analogist.apps.align.FitParams`).

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
    params = params or FitParams()
    plan = _plan(points, tuple(image_b.shape[-2:]), params)
    out = []
    for i in progress(range(frames), total=frames, desc="morph"):
        if i == 0:
            out.append(image_a.clone())
            continue
        if i == frames - 1:
            out.append(b_img.clone())
            continue
        t = i / (frames - 1)
        # the dissolve follows a smoothstep so the middle frames blend longest
        s = t * t * (3 - 2 * t)
        wa, wb, ca, cb = _pair_at(plan, image_a, image_b, t, kind, params, frame=True, step=step)
        out.append(mix(wa, wb, ca, cb, s))
    return out


__all__ = ["morph"]
