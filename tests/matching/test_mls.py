"""Moving-least-squares deformations: exactness at control points, identity, recovery of global maps."""

from __future__ import annotations

import math

import pytest
import torch

from analogist.matching.mls import KINDS, dense_flow, mls_transform, warp_image, with_frame


def _points(n: int = 25, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([90.0, 70.0]) + 3


@pytest.mark.parametrize("kind", KINDS)
def test_identity_pairs_give_identity(kind: str) -> None:
    p = _points()
    flow = dense_flow(p, p, (48, 64), kind)
    assert flow.shape == (2, 48, 64)
    assert flow.abs().max() < 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_control_points_land_exactly_on_targets(kind: str) -> None:
    p = _points()
    q = p + torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 6
    out = mls_transform(p, p, q, kind)
    assert torch.equal(out, q)
    # and arbitrarily close to them the map is continuous
    near = mls_transform(p + 1e-3, p, q, kind)
    assert (near - q).abs().max() < 0.05


@pytest.mark.parametrize(
    "kind, matrix",
    [
        ("affine", [[1.2, 0.3], [-0.2, 0.8]]),
        ("similarity", [[1.5 * math.cos(0.4), -1.5 * math.sin(0.4)], [1.5 * math.sin(0.4), 1.5 * math.cos(0.4)]]),
        ("rigid", [[math.cos(-0.7), -math.sin(-0.7)], [math.sin(-0.7), math.cos(-0.7)]]),
    ],
)
def test_global_map_of_its_class_is_recovered_everywhere(kind: str, matrix: list[list[float]]) -> None:
    m = torch.tensor(matrix, dtype=torch.float64)
    t = torch.tensor([4.0, -7.5], dtype=torch.float64)
    p = _points()
    q = p @ m.T + t
    v = _points(200, seed=5) * 1.3 - 10  # also outside the control points' hull
    assert torch.allclose(mls_transform(v, p, q, kind), v @ m.T + t, atol=1e-6)


def test_rigid_and_similarity_do_not_shear() -> None:
    p = _points()
    q = p @ torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64).T
    v = _points(50, seed=3)
    affine = mls_transform(v, p, q, "affine")
    assert torch.allclose(affine, v @ torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64).T, atol=1e-6)
    assert not torch.allclose(mls_transform(v, p, q, "rigid"), affine, atol=1e-2)


def test_degenerate_control_sets() -> None:
    v = _points(10)
    assert torch.equal(mls_transform(v, torch.zeros(0, 2), torch.zeros(0, 2)), v)
    one = mls_transform(v, torch.tensor([[5.0, 5.0]]), torch.tensor([[7.0, 2.0]]))
    assert torch.allclose(one, v + torch.tensor([2.0, -3.0], dtype=torch.float64))
    # collinear points: the affine system is singular, the similarity solution is used instead
    line = torch.tensor([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    out = mls_transform(v, line, line + torch.tensor([1.0, 1.0]), "affine")
    assert torch.isfinite(out).all()
    assert torch.allclose(out, v + 1, atol=1e-6)


def test_coarse_evaluation_matches_full_grid_on_smooth_maps() -> None:
    p = _points(12)
    q = p * 1.05 + torch.randn(p.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    full = dense_flow(p, q, (60, 80), "similarity")
    coarse = dense_flow(p, q, (60, 80), "similarity", step=4)
    assert (full - coarse).abs().max() < 0.3


def test_warp_image_moves_content_from_source_to_target_points() -> None:
    img = torch.zeros(1, 1, 40, 50)
    img[0, 0, 10, 12] = 1.0
    src = torch.tensor([[12.0, 10.0], [40.0, 30.0], [5.0, 35.0], [45.0, 5.0]])
    dst = src + torch.tensor([[6.0, 4.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    out = warp_image(img, src, dst, kind="affine")
    y, x = divmod(int(out.argmax()), 50)
    assert (x, y) == (18, 14)


def test_with_frame_pins_corners() -> None:
    src, dst = with_frame(torch.zeros(0, 2), torch.zeros(0, 2), (10, 20), (30, 40), per_side=2)
    assert src.shape == dst.shape == (8, 2)
    assert [19.0, 9.0] in src.tolist() and [39.0, 29.0] in dst.tolist()
    flow = dense_flow(src, dst, (10, 20))
    assert torch.allclose(flow[:, -1, -1], torch.tensor([20.0, 20.0]), atol=1e-4)
