"""The hypercolumn core of NNST: exact fast resizes, the tapped rows and the closed-form loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from analogist.matching.hypercolumn import centre_normalise, grid_rows, resize_bilinear, tap_rows
from analogist.synthesis.hyperopt import HyperCosineDistance as _HyperCosineDistance
from analogist.synthesis.hyperopt import unit_rows as _unit_rows

# (H, W) -> (h, w): whole factors 4, 2, 1, an enlargement, an odd factor and factors that are not whole
SIZES = [
    ((32, 24), (8, 6)),
    ((16, 12), (8, 6)),
    ((8, 6), (8, 6)),
    ((4, 3), (8, 6)),
    ((9, 15), (3, 5)),
    ((30, 22), (8, 6)),
    ((20, 12), (5, 6)),
]


def _reference_rows(f: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    r = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
    return r.permute(0, 2, 3, 1).reshape(-1, f.shape[1])


@pytest.mark.parametrize(("shape", "size"), SIZES)
def test_resize_bilinear_equals_interpolate(shape: tuple[int, int], size: tuple[int, int]) -> None:
    f = torch.randn(1, 5, *shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
    torch.testing.assert_close(resize_bilinear(f, size), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("shape", "size"), SIZES)
@pytest.mark.parametrize("tap", [False, True])
def test_grid_and_tapped_rows_match_interpolate_values_and_gradients(
    shape: tuple[int, int], size: tuple[int, int], tap: bool
) -> None:
    g = torch.Generator().manual_seed(1)
    base = torch.randn(1, 5, *shape, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 5, 1, 1, generator=g, dtype=torch.float64)  # a downstream layer
    rows_grad = torch.randn(size[0] * size[1], 5, generator=g, dtype=torch.float64)

    def run(fn):  # type: ignore[no-untyped-def]
        f = base.clone().contiguous(memory_format=torch.channels_last).requires_grad_(True)
        x = f * 1.0  # a non-leaf map, as a network layer's output
        if fn is tap_rows:
            x, rows = tap_rows(x, size)
        else:
            rows = fn(x, size)
        loss = (rows * rows_grad).sum() + F.conv2d(x, weight).square().sum()
        (grad,) = torch.autograd.grad(loss, f)
        return rows, grad

    rows, grad = run(tap_rows if tap else grid_rows)
    ref_rows, ref_grad = run(_reference_rows)
    torch.testing.assert_close(rows, ref_rows, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-12)


def test_hyper_cosine_distance_value_and_gradient() -> None:
    g = torch.Generator().manual_seed(2)
    channels = [4, 8, 16]
    rows = [torch.randn(30, c, generator=g, dtype=torch.float64, requires_grad=True) for c in channels]
    target = torch.randn(1, sum(channels), 5, 6, generator=g, dtype=torch.float64)
    units = _unit_rows(target, channels, torch.float64)

    loss = _HyperCosineDistance.apply(units, channels, *rows)
    hyper = torch.cat([r / c for r, c in zip(rows, channels)], dim=1)
    expected = (1 - F.cosine_similarity(hyper, target.reshape(sum(channels), -1).T, dim=1)).mean()
    torch.testing.assert_close(loss, expected)
    assert torch.autograd.gradcheck(lambda *r: _HyperCosineDistance.apply(units, channels, *r), rows)


def test_centre_normalise_gives_centred_unit_columns() -> None:
    x = torch.randn(300, 40, generator=torch.Generator().manual_seed(3)) + 5.0
    y = centre_normalise(x)
    torch.testing.assert_close(y.norm(dim=0), torch.ones(40))
    torch.testing.assert_close(y, F.normalize(x - x.mean(dim=1, keepdim=True), dim=0))
