"""COAT's part fill (training-free form): part matches, the gate, the filled swap, equal scale weights."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from analogist.data import example_path
from analogist.io import load_image
from analogist.matching.mutual import Confident, refine_index
from analogist.methods.coat import COATParams, coat_levels
from analogist.methods.coat.core import recolor
from analogist.methods.coat.correspond import fill_scales, swap_scales
from analogist.methods.coat.fill import PartFill, fill_scale, part_centres, restricted_match, support_gate
from analogist.progress import silent
from analogist.synthesis import pyramid
from analogist.synthesis.hyperopt import optimise_pyramid


def _grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return xs, ys


def test_zero_flow_sends_every_cell_to_the_same_place() -> None:
    centres = part_centres(torch.zeros(2, 64, 48), (16, 12), (16, 12), (64, 48))
    xs, ys = _grid(16, 12)
    assert torch.allclose(centres, torch.stack([xs, ys]).float(), atol=1e-5)
    # a shift of (8, -4) px is (2, -1) cells of 4 px; the centres are clamped to the style grid
    flow = torch.stack([torch.full((64, 48), 8.0), torch.full((64, 48), -4.0)])
    centres = part_centres(flow, (16, 12), (16, 12), (64, 48))
    assert torch.allclose(centres, torch.stack([(xs + 2).clamp(max=11), (ys - 1).clamp(min=0)]).float(), atol=1e-5)


def test_restricted_match_finds_a_shift_from_a_rough_start() -> None:
    """The style is the content's features shifted by (3, 2) cells; the search starts one cell off the
    true place and finds it for every cell whose shifted place is inside the style."""
    g = torch.Generator().manual_seed(0)
    feat_1 = torch.randn(1, 16, 12, 14, generator=g)
    feat_2 = torch.roll(feat_1, shifts=(2, 3), dims=(2, 3))
    xs, ys = _grid(12, 14)
    centres = torch.stack([xs + 3 + 1, ys + 2 - 1]).float()
    found = restricted_match(feat_1, feat_2, centres, radius=2).reshape(12, 14)
    expected = (ys + 2) * 14 + (xs + 3)
    inside = (xs + 4 < 14) & (ys + 1 >= 0) & (ys + 2 < 12) & (xs + 3 < 14)
    assert torch.equal(found[inside], expected[inside])


def _confident(index: torch.Tensor, mask: torch.Tensor) -> Confident:
    return Confident(index, mask.float(), mask, int(mask.sum()))


def test_gate_opens_where_confident_pairs_agree_and_stays_shut_where_none_do() -> None:
    h, w = 20, 20
    xs, ys = _grid(h, w)
    centres = torch.stack([xs, ys]).float()
    identity = (ys * w + xs).reshape(-1)
    mask = torch.zeros(h * w, dtype=torch.bool)
    mask[::3] = True  # a third of the positions are confident
    agreeing = support_gate([_confident(identity, mask)], centres, (h, w), support=0.15)
    assert torch.all(agreeing > 0.99)
    far = (((ys + 10) % h) * w + (xs + 10) % w).reshape(-1)  # confident, but half the grid away
    assert torch.all(support_gate([_confident(far, mask)], centres, (h, w), support=0.15) == 0)


def test_fill_keeps_the_swap_on_the_confident_set_and_zero_fill_is_the_paper_swap() -> None:
    g = torch.Generator().manual_seed(1)
    h1 = torch.randn(1, 2688, 6, 7, generator=g)
    h2 = torch.randn(1, 2688, 5, 8, generator=g)
    n1 = 6 * 7
    index = torch.randint(0, 40, (n1,), generator=g)
    mask = torch.rand(n1, generator=g) < 0.3
    part = torch.randint(0, 40, (n1,), generator=g)
    gate = torch.rand(n1, generator=g)
    names = ("block1", "block2", "block3", "block4")
    confident = {name: _confident(index, mask) for name in names}
    for n in range(5):
        paper = swap_scales(h1, h2, confident, n)
        off = {name: fill_scale(confident[name], part, gate, 0.0) for name in names}
        assert torch.equal(fill_scales(h1, h2, off, n), paper)
        full = {name: fill_scale(confident[name], part, gate, 1.0) for name in names}
        filled = fill_scales(h1, h2, full, n).reshape(2688, -1)
        assert torch.equal(filled[:, mask], paper.reshape(2688, -1)[:, mask])
        expect = torch.lerp(h1.reshape(2688, -1), h2.reshape(2688, -1)[:, part], gate[None])
        swapped = slice(0, (0, 128, 384, 1152, 2688)[4 - n])  # the texture scales' channels
        assert torch.allclose(filled[swapped][:, ~mask], expect[swapped][:, ~mask], atol=1e-6)
        assert torch.equal(filled[swapped.stop :], h1.reshape(2688, -1)[swapped.stop :])


class _Rows:
    """A fixed random feature map as the extractor: rows of two 'layers' of 4 and 6 channels."""

    channels = [4, 6]
    dtype = torch.float32

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(2)
        self.weight = torch.randn(10, 3, 3, 3, generator=g)

    def rows(self, image: torch.Tensor) -> list[torch.Tensor]:
        f = F.conv2d(image, self.weight, padding=1)[0].reshape(10, -1).T
        return [f[:, :4], f[:, 4:]]


def test_one_group_is_the_plain_loss_groups_cover_every_layer_and_fixed_bands_stay() -> None:
    g = torch.Generator().manual_seed(4)
    bands = pyramid.build(torch.rand(1, 3, 16, 16, generator=g), 3)
    target = torch.randn(1, 10, 16, 16, generator=g)
    kw = {"lr": 1e-2, "steps": 3, "progress": silent, "desc": ""}
    plain = optimise_pyramid(bands, target, _Rows(), **kw)
    one = optimise_pyramid(bands, target, _Rows(), groups=[2], **kw)
    assert all(torch.equal(a, b) for a, b in zip(plain, one))
    split = optimise_pyramid(bands, target, _Rows(), groups=[1, 1], **kw)
    assert not torch.equal(split[0], plain[0])
    with pytest.raises(ValueError):
        optimise_pyramid(bands, target, _Rows(), groups=[1], **kw)
    fixed = optimise_pyramid(bands, target, _Rows(), fixed_from=1, **kw)
    assert not torch.equal(fixed[0], bands[0])
    assert all(torch.equal(a, b) for a, b in zip(fixed[1:], bands[1:]))


@pytest.mark.slow
def test_the_texture_level_is_a_control() -> None:
    """Fewer structure scales move the result further from the content, towards the style."""
    content = load_image(example_path("cat.jpg"), 64)
    style = load_image(example_path("cat_painting.jpg"), 64)
    params = replace(COATParams(scales=2, steps=15, precision="fp32"), color=False)
    out = coat_levels(content, style, params, [0, 3])
    far = {n: F.mse_loss(r.image, content).item() for n, r in out.items()}
    assert far[0] > 1.5 * far[3] > 0  # 4.9 here; 1.17 with the paper swap alone and one cosine


def test_the_colour_window_covers_the_same_share_of_the_picture_at_twice_the_size() -> None:
    """A hypercolumn grid over ``max_cells`` (a larger image, matched on pooled cells) spreads the colour
    over as many matched cells as at the matched size: the recolouring at twice the size is the
    recolouring at the size, enlarged. A window fixed in cells (the capped grid not counted) is not."""
    g = torch.Generator().manual_seed(0)

    def picture() -> torch.Tensor:
        return F.interpolate(torch.rand(1, 3, 6, 6, generator=g), size=(64, 64), mode="bilinear")

    def up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear")

    content, style = picture(), picture()
    index = torch.arange(256).reshape(16, 16).flip(1).reshape(-1)  # each cell matches its mirror
    weight = torch.rand(256, generator=g)
    params = COATParams(max_cells=256, color_confine=None)
    small = recolor(content, style, {}, (16, 16), (16, 16), params, PartFill(index, weight))
    fine, cell = refine_index(index, (16, 16), (16, 16), (32, 32), (32, 32))
    args = (up(content), up(style), {}, (32, 32), (32, 32))
    large = recolor(*args, params, PartFill(fine, weight[cell]))
    fixed = recolor(*args, replace(params, max_cells=1024), PartFill(fine, weight[cell]))
    err, err_fixed = (large - up(small)).abs().mean(), (fixed - up(small)).abs().mean()
    assert err < 0.5 * err_fixed, (err, err_fixed)
