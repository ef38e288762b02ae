"""SAM-Net's finer last step: it keeps exact matches exact, moves a match that is one coarse cell off
to the true place on the fine grid, and does not jump a period of a repeating pattern on a near tie."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image
from analogist.matching.affine_field import field_targets, identity_field
from analogist.matching.flow import identity_grid
from analogist.methods.samnet import SAMNetParams, sam_net
from analogist.methods.samnet.refine import (
    carry_field,
    distance_prior,
    hypercolumn,
    refine_field,
    refine_spec,
)
from analogist.synthesis.warp import sample


def features(seed: int, c: int = 16, size: int = 32) -> torch.Tensor:
    """Smooth random features ``(1, c, size, size)``: distinctive at every cell, correlated locally."""
    g = torch.Generator().manual_seed(seed)
    small = torch.randn(1, c, size // 4, size // 4, generator=g)
    return F.interpolate(small, size=(size, size), mode="bicubic", align_corners=False) + 0.1 * torch.randn(
        1, c, size, size, generator=g
    )


def test_carry_field_of_the_identity_is_the_fine_identity() -> None:
    coarse = identity_field((8, 10), (8, 10))
    fine = carry_field(coarse, (8, 10), (16, 20), (16, 20))
    torch.testing.assert_close(fine, field_targets(identity_field((16, 20))), atol=1e-4, rtol=0)


def test_identical_features_stay_exact() -> None:
    f = features(0)
    fine, conf = refine_field(identity_field((16, 16)), (16, 16), f, f)
    assert fine.shape == (6, 32, 32) and conf.shape == (32, 32)
    torch.testing.assert_close(fine, identity_field((32, 32)), atol=1e-3, rtol=0)


def test_a_match_one_coarse_cell_off_is_placed_on_the_fine_grid() -> None:
    """The target is the source moved 2 fine cells right; the coarse field says no motion (one 2x cell off)."""
    f = features(1, size=40)
    fs, ft = f[..., 4:36, 4:36], f[..., 4:36, 2:34]  # ft(x) = f(x + 2 - 4) => fs(x) = ft(x + 2)
    fine, _ = refine_field(identity_field((16, 16)), (16, 16), fs, ft)
    moved = field_targets(fine) - field_targets(identity_field((32, 32)))
    inner = moved[:, 4:-4, 4:-4]
    assert (inner[0] - 2).abs().mean() < 0.25 and inner[1].abs().mean() < 0.25


def test_hypercolumn_weighs_normalised_layers() -> None:
    a, b = features(2, c=4, size=8) * 100, features(3, c=6, size=4)
    h = hypercolumn([a, b], (8, 8), [1.0, 2.0])
    assert h.shape == (1, 10, 8, 8)
    torch.testing.assert_close(h[:, :4].norm(dim=1), torch.ones(1, 8, 8))
    torch.testing.assert_close(h[:, 4:].norm(dim=1), torch.full((1, 8, 8), 2.0))


def refine_layers(refine: str, backbone: str) -> list[str]:
    return [name for name, _ in refine_spec(refine, backbone)]


def test_refine_layers_per_backbone() -> None:
    assert refine_layers("auto", "efficientnet-lite0") == ["stage3", "stage4", "stage5"]
    assert refine_spec("auto", "efficientnet-lite0") == [("stage3", 1.0), ("stage4", 1.0), ("stage5", 2.0)]
    assert refine_layers("auto", "vgg16-hed") == [] and refine_layers("", "efficientnet-lite0") == []
    assert refine_spec("stage3+stage5*0.5", "x") == [("stage3", 1.0), ("stage5", 0.5)]
    for bad in ("stage3*0", "stage3*x", "*2"):
        with pytest.raises(InputError):
            refine_spec(bad, "x")
    for bad in ({"refine_radius": 0}, {"refine_fit_radius": 0}, {"refine_prior": -1.0}):
        with pytest.raises(InputError):
            SAMNetParams(**bad)


def test_distance_prior_is_a_gaussian_on_the_offset() -> None:
    corr = torch.zeros(9, 2, 2)
    out = distance_prior(corr, 1, beta=10.0, sigma=2.0)
    p = torch.softmax(10.0 * out, 0)[:, 0, 0]  # row-major 3x3: centre 4, edge 1, corner 0
    torch.testing.assert_close(p[1] / p[4], torch.tensor(math.exp(-1 / 8)))
    torch.testing.assert_close(p[0] / p[4], torch.tensor(math.exp(-2 / 8)))
    assert torch.equal(distance_prior(corr, 1, 10.0, 0.0), corr)


def stripes(period: int, size: int, shift: float) -> torch.Tensor:
    """Features ``(1, 5, size, size)`` repeating every ``period`` cells along x, plus a weak channel that
    grows slowly with ``x - shift`` and tells the periods apart only slightly."""
    x = torch.arange(size, dtype=torch.float32)
    ang = 2 * math.pi * x / period
    rows = torch.stack([torch.cos(ang), torch.sin(ang), torch.cos(2 * ang), torch.sin(2 * ang), 0.05 * (x - shift)])
    return rows.reshape(5, 1, size).expand(5, size, size)[None].contiguous()


def test_the_prior_keeps_a_repeating_pattern_on_its_coarse_match() -> None:
    """Stripes with a period of 3 fine cells; the weak channel makes the cell one period to the right score
    a hair higher than the coarse (identity) match: without the prior the step jumps the period, with it
    the match stays."""
    fs, ft = stripes(3, 32, 0.0), stripes(3, 32, 3.0)
    coarse = identity_field((16, 16))
    inner = (slice(None), slice(6, -6), slice(6, -6))

    def moved(prior: float) -> torch.Tensor:
        fine, _ = refine_field(coarse, (16, 16), fs, ft, radius=3, prior_sigma=prior)
        return (field_targets(fine) - field_targets(identity_field((32, 32))))[inner]

    assert moved(0.0)[0].mean() > 2.0  # the near tie wins without the prior
    assert moved(2.5)[0].abs().max() < 0.5 and moved(2.5)[1].abs().max() < 0.5


@pytest.mark.slow
def test_default_matcher_refines_on_the_stride_8_grid() -> None:
    """Lite0 at 128 px: the field lives on stage3's 16x16 grid; identical images stay at the identity and
    a known rotation + zoom is recovered to within a pixel inside the borders."""
    photo = load_image(example_path("astronaut.jpg"), 128)
    same = sam_net(photo, photo, SAMNetParams(size=None, iters=1, init="identity", attribute=False))
    assert same.field.shape[-2:] == (16, 16) and same.grid_t == (16, 16)
    assert same.flow.abs().max() < 0.05
    h, w = photo.shape[-2:]
    th, s = math.radians(5), 1.05
    m = torch.tensor([[s * math.cos(th), -s * math.sin(th)], [s * math.sin(th), s * math.cos(th)]])
    c = torch.tensor([w / 2, h / 2])
    t = c - m @ c
    g = identity_grid(h, w)
    q = torch.einsum("ij,jhw->ihw", m, g) + t[:, None, None]
    target = sample(photo, torch.einsum("ij,jhw->ihw", torch.linalg.inv(m), g - t[:, None, None]))
    res = sam_net(photo, target, SAMNetParams(size=None, iters=2, attribute=False))
    inside = torch.zeros(h, w, dtype=torch.bool)
    inside[24:-24, 24:-24] = True
    assert (res.flow - (q - g)).norm(dim=0)[inside].mean() < 1.0
