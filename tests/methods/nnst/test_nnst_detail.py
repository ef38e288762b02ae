"""NNST-D's finest bands pasted from the matched style samples (methods/nnst/detail.py)."""

from __future__ import annotations

import pytest
import torch

from analogist.errors import InputError
from analogist.features.hypercolumn import grid_size
from analogist.methods.nnst import preset
from analogist.methods.nnst.detail import paste, paste_bands, patches, style_banks
from analogist.synthesis import pyramid


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cell", [4, 2])
def test_each_cell_matched_to_itself_gives_the_band_back(cell: int) -> None:
    band = _image(37 * cell // 4, 45 * cell // 4) - 0.5  # sides that are not multiples of the cell
    grid = (-(-band.shape[-2] // cell), -(-band.shape[-1] // cell))
    bank = patches(band, grid, cell)
    out = paste(bank, torch.arange(grid[0] * grid[1]), grid, cell, tuple(band.shape[-2:]))
    torch.testing.assert_close(out, band)


def test_matching_each_cell_to_its_right_neighbour_shifts_the_band_by_a_cell() -> None:
    band = _image(32, 48) - 0.5
    grid = (8, 12)
    cells = torch.arange(8 * 12).reshape(8, 12)
    right = torch.cat([cells[:, 1:], cells[:, -1:]], dim=1).reshape(-1)
    out = paste(patches(band, grid, 4), right, grid, 4, (32, 48))
    torch.testing.assert_close(out[..., :, 4:40], band[..., :, 8:44])
    assert not torch.allclose(out[..., :, 4:40], band[..., :, 4:40])


def test_samples_of_the_turned_style_paste_the_turned_style() -> None:
    style = _image(32, 32, seed=1)
    n = grid_size(style)[0] * grid_size(style)[1]
    where = torch.arange(2 * n)  # every cell of both turns, as style_samples keeps them below its cap
    banks = style_banks(style, 2, where, 2)
    turned = torch.rot90(style, 1, dims=(2, 3))
    bands = pyramid.build(turned, 4)
    out = paste_bands([torch.zeros_like(b) for b in bands], banks, torch.arange(n, 2 * n), (32, 32))
    for b in range(2):
        torch.testing.assert_close(out[b], bands[b])
    assert torch.equal(out[2], torch.zeros_like(bands[2]))  # coarser bands stay the decoder's


def test_detail_bands_is_checked() -> None:
    assert preset("decoder").detail_bands == 2
    with pytest.raises(InputError, match="detail_bands"):
        preset("decoder", detail_bands=3)
