"""The pieces several methods share, each in one home: the Gaussian blur, the resize to a size, the pixel
grid, the pixel flow on a cell grid and the cached loader of trained networks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analogist.errors import InputError
from analogist.matching.affine_field import grid_to_pixel_flow
from analogist.matching.flow import flow_to_nnf, identity_grid, pixel_flow_to_grid
from analogist.synthesis.filters import gaussian_blur
from analogist.synthesis.pyramid import resize
from analogist.training.checkpoint import load_models, load_trained, save_checkpoint


# ------------------------------------------------------------------------------------------- blur
@pytest.mark.parametrize("radius", [None, 5])
@pytest.mark.parametrize("border", ["replicate", "reflect"])
def test_the_blur_of_a_constant_image_is_that_constant(radius: int | None, border: str) -> None:
    if radius is not None and border != "replicate":
        pytest.skip("the torch kernel replicates borders only")
    image = torch.full((2, 3, 17, 23), 0.375)
    out = gaussian_blur(image, 1.7, radius=radius, border=border)
    assert out.shape == image.shape and out.dtype == image.dtype
    torch.testing.assert_close(out, image, rtol=0, atol=1e-6)


@pytest.mark.parametrize("radius", [None, 6])
def test_the_blur_of_an_impulse_is_the_normalised_gaussian(radius: int | None) -> None:
    sigma, n = 1.5, 31
    image = torch.zeros(1, 1, n, n, dtype=torch.float64)
    image[0, 0, n // 2, n // 2] = 1.0
    out = gaussian_blur(image, sigma, radius=radius)[0, 0]
    half = radius if radius is not None else round(4 * sigma)  # OpenCV's float kernel: about 4 sigma each side
    x = torch.arange(-half, half + 1, dtype=torch.float64)
    k = torch.exp(-x * x / (2 * sigma * sigma))
    k = k / k.sum()
    expected = torch.zeros(n, n, dtype=torch.float64)
    c = n // 2
    expected[c - half : c + half + 1, c - half : c + half + 1] = k[:, None] * k[None, :]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-7)
    assert abs(float(out.sum()) - 1.0) < 1e-9  # mass kept: the impulse is far from the borders


def test_the_blur_keeps_channels_apart_and_differs_only_at_the_border_by_border_mode() -> None:
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 4, 20, 30, generator=g)
    out = gaussian_blur(image, 1.0)
    for c in range(4):  # each channel blurred on its own
        torch.testing.assert_close(out[:, c : c + 1], gaussian_blur(image[:, c : c + 1], 1.0), rtol=0, atol=1e-6)
    reflect = gaussian_blur(image, 1.0, border="reflect")
    inner = (slice(None), slice(None), slice(5, -5), slice(5, -5))
    torch.testing.assert_close(out[inner], reflect[inner], rtol=0, atol=1e-6)
    assert (out - reflect).abs().max() > 1e-3
    with pytest.raises(ValueError, match="border"):
        gaussian_blur(image, 1.0, radius=3, border="reflect")


# ------------------------------------------------------------------------------------------ resize
def test_resize_leaves_its_own_size_alone_and_antialiases_on_request() -> None:
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 40, 60, generator=g)
    assert resize(image, (40, 60)) is image
    plain = resize(image, (10, 15))
    torch.testing.assert_close(plain, F.interpolate(image, size=(10, 15), mode="bilinear"), rtol=0, atol=0)
    smooth = resize(image, (10, 15), antialias=True)
    # the low-pass averages the noise away: far smaller spread than point sampling
    assert smooth.std() < 0.5 * plain.std()


# ------------------------------------------------------------------------------------------- grids
def test_the_pixel_grid_holds_x_then_y() -> None:
    grid = identity_grid(3, 4, dtype=torch.int64)
    assert grid.shape == (2, 3, 4)
    assert grid[0, 2].tolist() == [0, 1, 2, 3] and grid[1, :, 3].tolist() == [0, 1, 2]


def test_a_flow_on_a_grid_of_single_pixels_round_trips() -> None:
    g = torch.Generator().manual_seed(2)
    flow = torch.randn(2, 9, 13, generator=g, dtype=torch.float64) * 3
    for mode in ("area", "bilinear"):
        targets = pixel_flow_to_grid(flow, (9, 13), (11, 7), (11, 7), mode=mode)
        torch.testing.assert_close(targets, flow_to_nnf(flow), rtol=0, atol=1e-12)
        torch.testing.assert_close(grid_to_pixel_flow(targets, (11, 7), (11, 7)), flow, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["area", "bilinear"])
def test_a_translation_moves_every_cell_by_its_share_of_a_cell(mode: str) -> None:
    # 64 x 48 pixels in 16 x 12 cells of 4 px; the target is twice as large with 8 x 6 cells of 16 px
    flow = torch.tensor([6.0, -2.0]).view(2, 1, 1).expand(2, 64, 48).contiguous()
    targets = pixel_flow_to_grid(flow, (16, 12), (8, 6), (128, 96), mode=mode)
    centres = (identity_grid(16, 12) + 0.5) * 4 - 0.5  # cell centres in source pixels
    moved = centres + torch.tensor([6.0, -2.0]).view(2, 1, 1)
    torch.testing.assert_close(targets, (moved + 0.5) / 16 - 0.5, rtol=0, atol=1e-5)


def test_area_and_centre_agree_on_a_linear_flow_and_differ_on_a_curved_one() -> None:
    xs, ys = identity_grid(32, 32, dtype=torch.float64)
    linear = torch.stack([0.1 * xs - 0.2 * ys + 1, 0.05 * xs])
    a, b = (pixel_flow_to_grid(linear, (8, 8), (8, 8), (32, 32), mode=m) for m in ("area", "bilinear"))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)  # a linear field's mean over a cell is its centre value
    curved = torch.stack([0.02 * xs * xs, torch.zeros_like(xs)])
    a, b = (pixel_flow_to_grid(curved, (8, 8), (8, 8), (32, 32), mode=m) for m in ("area", "bilinear"))
    assert (a[0] - b[0]).abs().min() > 1e-4


# ------------------------------------------------------------------------------------ checkpoints
def _write(path: Path, scale: float, kind: str = "toy", key: str = "kind") -> None:
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.fill_(scale)
        lin.bias.zero_()
    state = {k: v.half() for k, v in lin.state_dict().items()}  # stored in float16, as exported copies are
    save_checkpoint(path, {key: kind, "config": {"inputs": 3}, "models": {"net": state}, "provenance": {"by": "t"}})


def _build(state: dict) -> dict[str, nn.Module]:
    return {"net": nn.Linear(state["config"]["inputs"], 2)}


def test_the_loader_caches_per_file_version_and_device(tmp_path: Path) -> None:
    path = tmp_path / "toy.pt"
    _write(path, 0.5)
    first = load_trained(path, "toy", _build)
    net = first.models["net"]
    assert not net.training and net.weight.dtype == torch.float32 and not net.weight.requires_grad
    assert torch.equal(net.weight, torch.full((2, 3), 0.5)) and first.provenance == {"by": "t"}
    assert load_trained(path, "toy", _build) is first  # read once
    assert load_trained(path, "toy", _build, device="meta").models["net"].weight.device.type == "meta"
    assert load_trained(path, "toy", _build) is first  # one entry per device
    _write(path, 0.25)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later modification time
    second = load_trained(path, "toy", _build)
    assert second is not first and torch.equal(second.models["net"].weight, torch.full((2, 3), 0.25))
    assert load_trained(path, "toy", _build) is second


def test_the_loader_refuses_foreign_and_unbuildable_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    _write(path, 1.0, kind="other")
    with pytest.raises(InputError, match="not of 'toy'"):
        load_trained(path, "toy", _build)
    with pytest.raises(InputError, match="does not hold a toy net this version can read"):
        load_trained(path, "other", lambda state: {"net": nn.Linear(5, 2)}, what="a toy net")


def test_load_models_fills_by_name_and_may_skip_the_missing() -> None:
    src = nn.Linear(2, 2)
    state = {"models": {"a": src.state_dict()}}
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    before = b.weight.detach().clone()
    load_models({"a": a, "b": b}, state, missing_ok=True)
    assert torch.equal(a.weight, src.weight) and torch.equal(b.weight, before)
    with pytest.raises(KeyError):
        load_models({"a": a, "b": b}, state)


def test_the_numpy_blur_of_part_colour_is_the_shared_one() -> None:
    from analogist.synthesis.part_color import _blur

    arr = np.random.default_rng(3).random((12, 10, 6), dtype=np.float32)
    out = _blur(arr, 1.3)
    ref = gaussian_blur(torch.from_numpy(arr).permute(2, 0, 1)[None], 1.3, border="reflect")[0].permute(1, 2, 0)
    assert out.shape == arr.shape and np.array_equal(out, ref.numpy())
    assert _blur(arr[..., 0].copy(), 1.3).shape == (12, 10)


def test_checkpoints_written_before_the_kind_rename_still_load(tmp_path: Path) -> None:
    """Files carry their kind under ``kind``; those written earlier (the shipped ones) under ``task``."""
    path = tmp_path / "old.pt"
    _write(path, 0.5, kind="toy", key="task")
    assert torch.equal(load_trained(path, "toy", _build).models["net"].weight, torch.full((2, 3), 0.5))
    _write(tmp_path / "foreign.pt", 0.5, kind="other", key="task")
    with pytest.raises(InputError, match="not of 'toy'"):
        load_trained(tmp_path / "foreign.pt", "toy", _build)
