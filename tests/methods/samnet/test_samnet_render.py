"""SAM-Net's stylised image drawn by NNST along the field: the guides carry the flow, the colours come
from where the field points, and the source's structure is kept."""

from __future__ import annotations

import pytest
import torch

from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image
from analogist.matching.flow import identity_grid
from analogist.methods.samnet import SAMNetParams, sam_net
from analogist.methods.samnet.render import coordinate_guides, render
from analogist.synthesis.warp import backward_warp


def _edges(image: torch.Tensor) -> torch.Tensor:
    g = image.mean(1, keepdim=True)
    return torch.cat([(g[..., 1:, :-1] - g[..., :-1, :-1]).abs(), (g[..., :-1, 1:] - g[..., :-1, :-1]).abs()]).sum(0)


def _corr(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.flatten() - x.mean(), y.flatten() - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()))


def test_guides_are_the_target_coordinates_pulled_along_the_flow() -> None:
    h, w = 24, 40
    zero = torch.zeros(2, h, w)
    source_guide, target_guide = coordinate_guides(zero, (h, w))
    assert target_guide.shape == (1, 3, h, w) and source_guide.shape == (1, 3, h, w)
    torch.testing.assert_close(source_guide, target_guide)
    assert target_guide[0, 0, 0, 0] == 0 and target_guide[0, 0, 0, -1] == 1 and target_guide[0, 1, -1, 0] == 1
    shift = torch.stack([torch.full((h, w), 8.0), torch.zeros(h, w)])
    moved, _ = coordinate_guides(shift, (h, w))
    torch.testing.assert_close(moved[0, 0, :, : w - 8], target_guide[0, 0, :, 8:])
    # a flow into a target of another size: coordinates stay relative
    half = identity_grid(h, w) * 0.5 - identity_grid(h, w)  # source pixel (x, y) -> target (x / 2, y / 2)
    small, tgt = coordinate_guides(half, (h // 2, w // 2))
    torch.testing.assert_close(small[0, :2, ::2, ::2], tgt[0, :2], atol=0.03, rtol=0)


def test_colours_come_from_where_the_field_points() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 1, 64, 64, generator=g)
    target = torch.cat([0.3 + 0.5 * noise, 0.2 + 0.3 * noise, 0.1 + 0.2 * noise], 1)  # left: warm
    target[..., 32:] = torch.cat([0.1 + 0.2 * noise, 0.2 + 0.3 * noise, 0.3 + 0.5 * noise], 1)[..., 32:]  # right: cool
    source = torch.rand(1, 1, 64, 64, generator=g).expand(1, 3, 64, 64).contiguous()
    grid = identity_grid(64, 64)
    same = torch.zeros(2, 64, 64)
    swap = torch.stack([(grid[0] + 32) % 64 - grid[0], torch.zeros(64, 64)])  # left half <-> right half
    params = SAMNetParams(render_guide=20.0)
    kept = render(source, target, same, (64, 64), backward_warp(target, same), params)
    swapped = render(source, target, swap, (64, 64), backward_warp(target, swap, mode="nearest"), params)
    assert kept.shape == source.shape

    def warm(im: torch.Tensor) -> float:  # red over blue, left half minus right half
        d = im[0, 0] - im[0, 2]
        return float(d[:, :24].mean() - d[:, 40:].mean())

    assert warm(kept) > 0.1 and warm(swapped) < -0.1


def test_stylised_source_takes_the_targets_colours_and_keeps_its_structure() -> None:
    source = load_image(example_path("astronaut.jpg"), 64)
    target = torch.flip(source, dims=[1]) * 0.8 + 0.1  # same structure, other colours
    res = sam_net(source, target, SAMNetParams(size=None))
    loop = sam_net(source, target, SAMNetParams(size=None, render="loop"))

    def gap(im: torch.Tensor) -> float:
        return float((im.mean((2, 3)) - target.mean((2, 3))).abs().sum())

    assert gap(res.stylised) < 0.3 * gap(source) and gap(res.stylised) < gap(loop.stylised)
    assert _corr(_edges(res.stylised), _edges(source)) > 0.5
    assert res.timings["render"] > 0 and "render" not in loop.timings


def test_render_is_checked() -> None:
    with pytest.raises(InputError):
        SAMNetParams(render="paint")
    with pytest.raises(InputError):
        SAMNetParams(render_guide=-1.0)
