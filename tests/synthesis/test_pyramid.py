"""Laplacian pyramid: exact round trip, level sizes and the coarse-to-fine tails NNST optimises."""

from __future__ import annotations

import pytest
import torch

from analogist.synthesis import pyramid


@pytest.mark.parametrize(
    "shape,levels", [((1, 3, 64, 64), 8), ((2, 3, 37, 50), 8), ((1, 1, 5, 3), 6), ((1, 3, 20, 9), 1)]
)
def test_round_trip_is_exact(shape: tuple[int, ...], levels: int) -> None:
    x = torch.rand(shape)
    pyr = pyramid.build(x, levels)
    assert len(pyr) == levels
    assert torch.allclose(pyramid.collapse(pyr), x, atol=1e-6, rtol=0)


def test_round_trip_in_float64_is_bitwise_close() -> None:
    x = torch.rand(1, 3, 33, 47, dtype=torch.float64)
    assert (pyramid.collapse(pyramid.build(x, 8)) - x).abs().max() < 1e-14


def test_level_sizes_halve_rounding_up() -> None:
    pyr = pyramid.build(torch.rand(1, 3, 37, 50), 8)
    assert [tuple(p.shape[-2:]) for p in pyr] == pyramid.level_sizes(37, 50, 8)
    assert pyramid.level_sizes(37, 50, 8) == [(37, 50), (19, 25), (10, 13), (5, 7), (3, 4), (2, 2), (1, 1), (1, 1)]


def test_tail_collapses_to_the_coarser_image() -> None:
    x = torch.rand(1, 3, 64, 48)
    pyr = pyramid.build(x, 6)
    for s in range(1, 6):
        coarse = pyramid.collapse(pyr[s:])
        assert coarse.shape[-2:] == pyr[s].shape[-2:]
    # the tail at level 1 is the low-passed, half-size image: its mean is the image's mean
    assert torch.allclose(pyramid.collapse(pyr[1:]).mean(), x.mean(), atol=1e-3)


def test_constant_image_has_empty_bands() -> None:
    pyr = pyramid.build(torch.full((1, 3, 30, 30), 0.3), 5)
    assert all(b.abs().max() < 1e-6 for b in pyr[:-1])
    assert torch.allclose(pyr[-1], torch.full_like(pyr[-1], 0.3))


def test_collapse_is_differentiable_in_every_level() -> None:
    pyr = [p.requires_grad_(True) for p in pyramid.build(torch.rand(1, 3, 32, 32), 4)]
    pyramid.collapse(pyr).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in pyr)


def test_rejects_zero_levels() -> None:
    with pytest.raises(ValueError):
        pyramid.build(torch.rand(1, 3, 8, 8), 0)
