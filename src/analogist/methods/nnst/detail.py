"""NNST-D's finest bands taken from the style samples the targets matched (a deviation from the paper).

The paper's decoders (256 hidden channels, one per scale, 3 epochs of MS-COCO on a GPU) reproduce the
style's fine strokes from the target hypercolumn. The CPU-sized decoder does not: its finest bands
carry a grid of its sub-pixel layout and little of the style's texture. Every target column is a
style sample at a known place, so the finest Laplacian bands are pasted from there instead: each
hypercolumn cell (4 px at the finest band, 2 px at the next) takes the style band's patch of twice
its size around the matched sample, weighted by a tent that sums to one over the overlaps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...features.hypercolumn import HYPER_STRIDE, grid_size
from ...synthesis import pyramid

#: the bands that can be pasted: a cell of 4 px at the finest, 2 px at the next
MAX_BANDS = 2


def _tent(cell: int, like: torch.Tensor) -> torch.Tensor:
    """``(2c * 2c,)`` separable tent over a patch of twice the cell; shifted by ``cell`` it sums to one."""
    t = torch.arange(2 * cell, device=like.device, dtype=like.dtype)
    w = 1 - (t - (2 * cell - 1) / 2).abs() / cell
    return (w[:, None] * w[None, :]).reshape(-1)


def patches(band: torch.Tensor, grid: tuple[int, int], cell: int) -> torch.Tensor:
    """The ``2c x 2c`` patches of ``band`` ``(1, C, h, w)`` centred on each of the ``grid`` ``(gh, gw)``
    cells of ``c`` px: ``(C * 4c^2, gh * gw)``, zero beyond the band."""
    gh, gw = grid
    band = F.pad(band, (0, max(0, gw * cell - band.shape[-1]), 0, max(0, gh * cell - band.shape[-2])), mode="replicate")
    return F.unfold(band[..., : gh * cell, : gw * cell], kernel_size=2 * cell, stride=cell, padding=cell // 2)[0]


def paste(
    bank: torch.Tensor, idx: torch.Tensor, grid: tuple[int, int], cell: int, size: tuple[int, int]
) -> torch.Tensor:
    """Overlap-add of the patches ``bank[:, idx]`` (``bank`` ``(C * 4c^2, N)``, ``idx`` ``(gh * gw,)``, one per
    cell in row order) onto a ``grid`` of ``cell`` px, tent-weighted: ``(1, C, *size)``."""
    gh, gw = grid
    tent = _tent(cell, bank)
    channels = bank.shape[0] // tent.numel()
    weights = tent.repeat(channels)[:, None]
    fold = dict(output_size=(gh * cell, gw * cell), kernel_size=2 * cell, stride=cell, padding=cell // 2)
    out = F.fold((bank[:, idx] * weights)[None], **fold)
    norm = F.fold(weights.expand(-1, idx.numel())[None], **fold)
    return (out / norm.clamp_min(1e-6))[..., : size[0], : size[1]]


def style_banks(style: torch.Tensor, turns: int, where: torch.Tensor, bands: int) -> list[torch.Tensor]:
    """Per band, the patches of the style samples ``where`` (``(N,)`` indices into the stacked grids of
    ``style`` ``(1, 3, Hs, Ws)`` turned 0, 90, ... degrees, ``turns`` of them, as in
    :func:`~.samples.style_samples`): ``[(3 * 4c^2, N)]`` for the finest ``bands`` bands."""
    per_turn = []  # each turn's pyramid once, its finest ``bands`` bands as patches
    for k in range(turns):
        image = torch.rot90(style, k, dims=(2, 3))
        pyr = pyramid.build(image, bands + 1)
        per_turn.append([patches(pyr[b], grid_size(image), HYPER_STRIDE >> b) for b in range(bands)])
    return [torch.cat([turn[b] for turn in per_turn], dim=1).index_select(1, where) for b in range(bands)]


def paste_bands(
    bands: list[torch.Tensor], banks: list[torch.Tensor], idx: torch.Tensor, size: tuple[int, int]
) -> list[torch.Tensor]:
    """``bands`` (a decoded pyramid, finest first, of an image of ``size``) with its finest ``len(banks)``
    bands replaced by the style's, pasted along the matches ``idx`` ``(gh * gw,)`` of the hypercolumn grid."""
    grid = grid_size(size)
    sizes = pyramid.level_sizes(size[0], size[1], len(bands))
    pasted = [paste(bank, idx, grid, HYPER_STRIDE >> b, sizes[b]) for b, bank in enumerate(banks)]
    return pasted + bands[len(banks) :]


__all__ = ["MAX_BANDS", "patches", "paste", "style_banks", "paste_bands"]
