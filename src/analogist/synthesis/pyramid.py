"""Laplacian pyramids: the image parameterisation Neural Neighbor Style Transfer optimises.

A pyramid of ``levels`` entries is a list, finest first: ``pyr[i]`` for ``i < levels - 1`` is the band
between resolution ``i`` and ``i + 1`` (``(B, C, H_i, W_i)`` with ``H_0 = H`` and
``H_{i+1} = ceil(H_i / 2)``), and ``pyr[-1]`` is the low-pass residual at the coarsest resolution.
:func:`collapse` inverts :func:`build` up to float rounding, and ``collapse(pyr[s:])`` is the image
at resolution ``s`` (a coarse-to-fine method optimises exactly these coarser sub-pyramids).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """``[(H_0, W_0), ..., (H_{levels-1}, W_{levels-1})]`` with each side halved, rounding up."""
    if levels < 1:
        raise ValueError(f"a pyramid needs at least one level, got {levels}")
    sizes = [(height, width)]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def resize(x: torch.Tensor, size: tuple[int, int], *, antialias: bool = False) -> torch.Tensor:
    """Bilinear resize of ``(B, C, H, W)`` to ``size`` (pixel centres aligned); unchanged when already that size.

    ``antialias`` low-passes before decimating (for shrinking an image); differentiable either way.
    The one resize to a given size: images by their longer side are :func:`analogist.io.resize_longer`'s,
    feature maps onto a hypercolumn grid :func:`analogist.matching.hypercolumn.resize_bilinear`'s.
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=antialias)


def build(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of ``image`` ``(B, C, H, W)`` with ``levels`` entries, finest first.

    Levels past the point where a side reaches one pixel stay ``1``-pixel maps, so any image size
    and level count work.
    """
    sizes = level_sizes(image.shape[-2], image.shape[-1], levels)
    gauss = [image]
    for size in sizes[1:]:
        gauss.append(resize(gauss[-1], size, antialias=True))
    bands = [fine - resize(coarse, fine.shape[-2:]) for fine, coarse in zip(gauss[:-1], gauss[1:])]
    return bands + [gauss[-1]]


def collapse(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """Image ``(B, C, H_0, W_0)`` of a pyramid (or of its tail ``pyr[s:]``, giving resolution ``s``)."""
    x = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        x = band + resize(x, band.shape[-2:])
    return x
