"""Robust alignment from noisy pairs: a global map through the outliers, a residual that never folds,
and morphs without double images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from analogist.apps.align import align, buddies_flow, fit_pairs, select_pairs
from analogist.apps.morph import morph
from analogist.matching.flow import identity_grid
from analogist.matching.mls import KINDS, damped_flow, dense_flow
from analogist.synthesis.warp import sample

#: B = S(A): rotation 10 degrees, scale 1.15, shift (6, -4)
ANGLE, SCALE, SHIFT = math.radians(10), 1.15, (6.0, -4.0)


def _similarity() -> torch.Tensor:
    c, s = SCALE * math.cos(ANGLE), SCALE * math.sin(ANGLE)
    return torch.tensor([[c, -s, SHIFT[0]], [s, c, SHIFT[1]], [0, 0, 1]], dtype=torch.float64)


def _texture(h: int, w: int, seed: int = 0, cell: int = 8) -> torch.Tensor:
    """``(1, 3, h, w)`` smooth random colour texture (features about ``cell`` pixels across)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, h // cell + 2, w // cell + 2, generator=g)
    return F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def _map(m: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    return pts @ m[:2, :2].T + m[:2, 2]


def _pairs(n: int = 40, outliers: float = 0.3, seed: int = 0, jitter: float = 0.0):
    """``(n, 4)`` pairs under :func:`_similarity`, a share of them with random B points, and the mask
    of the true ones."""
    g = torch.Generator().manual_seed(seed)
    pa = torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([88.0, 56.0]) + torch.tensor([20.0, 20.0])
    pb = _map(_similarity(), pa) + jitter * torch.randn(n, 2, generator=g, dtype=torch.float64)
    bad = torch.randperm(n, generator=g)[: round(outliers * n)]
    pb[bad] = torch.rand(len(bad), 2, generator=g, dtype=torch.float64) * torch.tensor([128.0, 96.0])
    good = torch.ones(n, dtype=torch.bool)
    good[bad] = False
    return torch.cat([pa, pb], 1).float(), good


def _folds(flow: torch.Tensor) -> float:
    """Smallest Jacobian determinant of ``p -> p + flow[p]`` (numpy's central differences)."""
    f = flow.double().numpy()
    dxdy, dxdx = np.gradient(f[0])
    dydy, dydx = np.gradient(f[1])
    return float(((1 + dxdx) * (1 + dydy) - dxdy * dydx).min())


def test_similarity_is_recovered_through_30_percent_outliers() -> None:
    points, good = _pairs()
    fit = fit_pairs(points, shape_b=(96, 128))
    assert torch.allclose(fit.matrix[:2], _similarity()[:2], atol=1e-3)
    # every outlier is out, every true pair in
    assert torch.equal(fit.inliers, good)
    # the dense field takes each true pair's A point onto its B point, and the outliers bend nothing:
    # their A points go where the similarity sends them
    flow = buddies_flow(points, (96, 128), (96, 128), frame=True, step=1)
    pa = points[:, 0:2].double()
    at = sample(flow[None], pa.T.reshape(2, 1, -1).float(), mode="bilinear")[0, :, 0].T.double()
    landed = pa + at
    assert (landed[good] - points[good, 2:4].double()).norm(dim=1).max() < 1.0
    assert (landed[~good] - _map(_similarity(), pa[~good])).norm(dim=1).max() < 1.0


def test_aligned_images_meet_within_a_pixel() -> None:
    """B is A under the similarity, on a canvas of another size: both aligned images show the same
    picture, and the pairs' points meet."""
    a = _texture(96, 128, seed=1)
    points, good = _pairs(seed=2)
    shape_b = (80, 112)  # B's pixels are A's scaled by 112 / 128 and 80 / 96 after the similarity
    frame = torch.tensor([[112 / 128, 0, 0.5 * 112 / 128 - 0.5], [0, 80 / 96, 0.5 * 80 / 96 - 0.5], [0, 0, 1]])
    to_b = frame.double() @ _similarity()
    b = sample(
        a,
        _map(torch.linalg.inv(to_b), identity_grid(*shape_b).reshape(2, -1).T.double()).T.reshape(2, *shape_b).float(),
    )
    pts = torch.cat([points[:, 0:2], _map(frame.double(), points[:, 2:4].double()).float()], 1)
    al = align(a, b, pts)
    inner = (..., slice(24, -24), slice(32, -32))
    diff = (al.a - al.b)[inner].abs().mean()
    before = (a - F.interpolate(b, size=(96, 128), mode="bilinear", align_corners=False))[inner].abs().mean()
    assert diff < 0.02 < before / 4
    # a pair's midpoint shows A's content at its A point (the pairs meet there)
    mid = al.midpoints[good].double()
    read = sample(al.a, mid.T.reshape(2, 1, -1).float())[0, :, 0]
    want = sample(a, points[good, 0:2].T.reshape(2, 1, -1))[0, :, 0]
    assert (read - want).abs().mean() < 0.02


@pytest.mark.parametrize("kind", KINDS)
def test_the_flow_of_noisy_pairs_never_folds(kind: str) -> None:
    points, _ = _pairs(n=60, seed=3, jitter=2.5)
    # two neighbouring pairs that swap places in B: the classic fold of an exact interpolation
    swap = torch.tensor([[50.0, 40.0, 0, 0], [56.0, 40.0, 0, 0]])
    swap[:, 2:4] = _map(_similarity(), swap[[1, 0], 0:2].double()).float()
    points = torch.cat([points, swap])
    for frame in (False, True):
        flow = buddies_flow(points, (96, 128), (96, 128), kind, frame=frame, step=2)
        assert _folds(flow) > 0
    idx = select_pairs(points, torch.ones(len(points)), 15)
    assert _folds(buddies_flow(points[idx], (96, 128), (96, 128), kind, frame=True, step=2)) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_residual_field_that_would_fold_is_damped_until_it_does_not(kind: str) -> None:
    g = torch.Generator().manual_seed(6)
    src = torch.rand(12, 2, generator=g, dtype=torch.float64) * torch.tensor([100.0, 70.0]) + 10
    dst = src + torch.randn(12, 2, generator=g, dtype=torch.float64)
    # two close pairs that swap places
    src = torch.cat([src, torch.tensor([[60.0, 45.0], [66.0, 45.0]], dtype=torch.float64)])
    dst = torch.cat([dst, torch.tensor([[66.0, 45.0], [60.0, 45.0]], dtype=torch.float64)])
    assert _folds(dense_flow(src, dst, (96, 128), kind)) < 0
    flow = damped_flow(src, dst, (96, 128), kind, frame=True)
    assert _folds(flow) > 0 and flow.abs().max() > 0.5


def test_morph_of_a_shifted_copy_has_no_double_image() -> None:
    big = _texture(112, 144, seed=4)
    a, b = big[..., 0:96, 0:128], big[..., 8:104, 16:144]  # A's (x, y) is B's (x - 16, y - 8)
    g = torch.Generator().manual_seed(5)
    pa = torch.rand(30, 2, generator=g) * torch.tensor([90.0, 60.0]) + torch.tensor([20.0, 18.0])
    pb = pa - torch.tensor([16.0, 8.0])
    pb[:9] = torch.rand(9, 2, generator=g) * torch.tensor([128.0, 96.0])  # 30 % outliers
    frames = morph(a, b, torch.cat([pa, pb], 1), frames=5)
    half = big[..., 4:100, 8:136]  # the picture moved half-way
    inner = (..., slice(12, -12), slice(16, -16))
    err = (frames[2] - half)[inner].abs().mean()
    double = ((a + b) / 2 - half)[inner].abs().mean()
    assert err < 0.01 < double / 4
    # as sharp as the picture: no contrast lost to a second, offset copy
    edges = lambda im: (im[..., 1:, :] - im[..., :-1, :]).abs().mean() + (im[..., 1:] - im[..., :-1]).abs().mean()  # noqa: E731
    assert edges(frames[2][inner]) > 0.95 * edges(half[inner])


def test_where_one_image_ends_the_blend_shows_the_other_not_a_streak() -> None:
    big = _texture(112, 144, seed=6)
    a, b = big[..., 0:96, 0:128], big[..., 8:104, 16:144]  # A's (x, y) is B's (x - 16, y - 8)
    g = torch.Generator().manual_seed(7)
    pa = torch.rand(30, 2, generator=g) * torch.tensor([90.0, 60.0]) + torch.tensor([20.0, 18.0])
    al = align(a, b, torch.cat([pa, pa - torch.tensor([16.0, 8.0])], 1))
    half = big[..., 4:100, 8:136]  # the picture moved half-way: A ends 8 px before the right side
    right = (..., slice(8, -8), slice(122, 128))  # covered by B only
    assert float(al.cover_a[right].amax()) < 0.05 and float(al.cover_b[right].amin()) > 0.99
    assert float(al.cover_a[..., 8:-8, 8:-12].amin()) > 0.99  # inside, both
    torch.testing.assert_close(al.blend()[right], half[right], atol=0.02, rtol=0)
    assert float(((al.a + al.b) / 2 - half)[right].abs().mean()) > 0.03  # the plain mix shows A's margin
    # A's margin mirrors A: its columns differ, as the picture's do (a clamped border repeats one column)
    margin = al.a[..., 8:-8, 122:128]
    assert float((margin[..., 1:] - margin[..., :-1]).abs().mean()) > 0.2 * float(
        (half[..., 1:] - half[..., :-1]).abs().mean()
    )
    torch.testing.assert_close(al.blend()[..., 8:-8, 8:-8], half[..., 8:-8, 8:-8], atol=0.02, rtol=0)
    saved_a, saved_b = al.framed()  # what align writes: black beyond each image's frame
    assert float(saved_a[right].amax()) < 0.05 and float(saved_b[..., 8:-8, 0:2].amax()) < 0.05
    torch.testing.assert_close(saved_a[..., 8:-8, 8:-12], al.a[..., 8:-8, 8:-12])
    assert float(al.blend()[..., 0:2, 122:128].amax()) < 0.05  # neither covers the corner: black
