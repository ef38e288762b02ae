"""The driving pairs of align and morph: an object framed twice as large in B lines up at the right
scale and place, and every search reports the given images' pixels."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from analogist.apps.align import _plan
from analogist.apps.pair_fit import FitParams
from analogist.apps.pair_search import SCALES, _judge_features, agreement, driving_pairs, scaled_searches
from analogist.cli.buddies import DEFORM_BACKBONE
from analogist.data import example_path
from analogist.io import load_image
from analogist.methods.buddies import BuddiesParams

X0, Y0 = 76, 46  # where the cat sits in A


@pytest.fixture(scope="module")
def zoomed() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A (the cat at half size, off-centre, on a random colour texture: a distractor B has no part
    of), B (the cat filling the frame) and the true ``(3, 3)`` map of A's pixels onto B's."""
    b = load_image(example_path("cat.jpg"), 224)
    h, w = b.shape[-2:]
    low = torch.rand(1, 3, h // 8 + 2, w // 8 + 2, generator=torch.Generator().manual_seed(1))
    a = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    a[..., Y0 : Y0 + h // 2, X0 : X0 + w // 2] = F.interpolate(
        b, size=(h // 2, w // 2), mode="bilinear", antialias=True, align_corners=False
    )
    # pixel centres: A's p is B's (q + 0.5) / 2 - 0.5 + x0, so q = 2 p - 2 x0 + 0.5
    truth = torch.tensor([[2.0, 0, 0.5 - 2 * X0], [0, 2.0, 0.5 - 2 * Y0], [0, 0, 1]], dtype=torch.float64)
    return a, b, truth


def test_an_object_twice_as_large_in_b_is_found_at_twice_the_scale(zoomed) -> None:
    """The command's own search (its backbone, three scales); the paper's VGG at one scale fits a
    scale of 0.88 to this pair."""
    a, b, truth = zoomed
    shape = tuple(b.shape[-2:])
    searches = scaled_searches(a, b, BuddiesParams(backbone=DEFORM_BACKBONE), SCALES)
    pts, ranks = driving_pairs(a, b, searches, 15)
    assert pts.shape[0] >= 5 and ranks.shape == (pts.shape[0],)
    m = _plan(pts, shape, FitParams())[0]
    assert math.sqrt(float(torch.linalg.det(m[:2, :2]))) == pytest.approx(2.0, rel=0.08)
    # where the cat's corners and centre land, within 3 % of B's diagonal
    h, w = a.shape[-2:]
    probe = torch.tensor([[X0, Y0], [X0 + w / 2, Y0 + h / 2], [X0 + w / 4, Y0 + h / 4]], dtype=torch.float64)
    moved, want = probe @ m[:2, :2].T + m[:2, 2], probe @ truth[:2, :2].T + truth[:2, 2]
    assert float((moved - want).norm(dim=1).max()) < 0.03 * math.hypot(h, w)


def test_the_searches_are_in_the_given_images_pixels(zoomed) -> None:
    """A search with B shrunk still reports B's pixels: its pairs lie inside both given frames."""
    a, b, _ = zoomed
    for points, _ranks in scaled_searches(a, b, BuddiesParams(backbone=DEFORM_BACKBONE), (0.5, 2.0)):
        assert points.shape[0] > 0
        assert float(points[:, 0].min()) >= -0.5 and float(points[:, 0].max()) <= a.shape[-1] - 0.5
        assert float(points[:, 3].min()) >= -0.5 and float(points[:, 3].max()) <= b.shape[-2] - 0.5


def test_features_agree_best_under_the_true_map(zoomed) -> None:
    """The judge of the scales: the true map lines the features up better than the given framing,
    than the true map at half or twice its scale, or than a shift of a tenth of the frame."""
    a, b, truth = zoomed
    shape_a, shape_b = tuple(a.shape[-2:]), tuple(b.shape[-2:])
    params = BuddiesParams(backbone=DEFORM_BACKBONE)
    fa, fb = _judge_features(a, params), _judge_features(b, params)
    centre = torch.tensor([[1.0, 0, -shape_b[1] / 2], [0, 1.0, -shape_b[0] / 2], [0, 0, 1]], dtype=torch.float64)
    wrong = [torch.eye(3, dtype=torch.float64)]
    for s in (0.5, 2.0):  # rescaled about B's centre
        wrong.append(
            torch.linalg.inv(centre) @ torch.diag(torch.tensor([s, s, 1.0], dtype=torch.float64)) @ centre @ truth
        )
    shifted = truth.clone()
    shifted[0, 2] += shape_b[1] / 10
    wrong.append(shifted)
    best = agreement(truth, fa, fb, shape_a, shape_b)
    assert all(agreement(m, fa, fb, shape_a, shape_b) < best for m in wrong)
