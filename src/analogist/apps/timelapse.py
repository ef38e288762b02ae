"""Time-lapse: one photo recoloured after a sequence of references (Deep Image Analogy, photo2photo).

The paper's application: the colours and tone of each reference (e.g. the same kind of scene at
different times of day) are transferred onto the source's structure, one frame per reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from ..errors import InputError
from ..methods.analogy import AnalogyParams, deep_image_analogy
from ..progress import Progress, silent


def timelapse(
    source: torch.Tensor,
    references: Sequence[torch.Tensor],
    params: AnalogyParams | None = None,
    *,
    transition: int = 0,
    progress: Progress = silent,
) -> list[torch.Tensor]:
    """Frames ``(1, 3, H, W)`` of ``source`` ``(1, 3, H, W)`` recoloured after each reference.

    Args:
        references: ``(1, 3, Hi, Wi)`` each, any sizes.
        params: analogy parameters; the mode is forced to ``photo2photo`` (colour transfer keeping
            the source's detail, Eq. 7).
        transition: cross-faded in-between frames inserted between consecutive results, for a
            smooth animation (0 = the results only).

    Returns:
        ``len(references) + (len(references) - 1) * transition`` frames at the source's size.
    """
    if not references:
        raise InputError("timelapse needs at least one reference image")
    if transition < 0:
        raise InputError(f"transition must be >= 0, got {transition}")
    params = replace(params or AnalogyParams(), mode="photo2photo")
    keys = [
        deep_image_analogy(source, ref, params).a_prime
        for ref in progress(references, total=len(references), desc="timelapse")
    ]
    frames: list[torch.Tensor] = [keys[0]]
    for prev, nxt in zip(keys, keys[1:]):
        for k in range(1, transition + 1):
            t = k / (transition + 1)
            frames.append(prev * (1 - t) + nxt * t)
        frames.append(nxt)
    return frames
