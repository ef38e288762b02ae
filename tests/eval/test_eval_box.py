"""Box-normalised PCK (the figure quoted for keypoint sets) and the synthetic warps set's exact ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import run_cli

from analogist.eval import datasets, warps
from analogist.eval.matchers import MATCHERS, MatcherSpec
from analogist.eval.runner import EvalConfig, evaluate
from analogist.io import save_image
from analogist.synthesis.warp import sample

SHIFT = 6.0  # px, the offset of the shift matcher


def shift_matcher(image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str, **options) -> torch.Tensor:
    """Every pixel moves SHIFT px right (at the images' own size: keep them unresized)."""
    flow = torch.zeros(2, *image_a.shape[-2:])
    flow[0] = SHIFT
    return flow


def textured(seed: int, h: int, w: int) -> torch.Tensor:
    """A smooth random RGB image ``(1, 3, h, w)`` with texture everywhere."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


@pytest.fixture
def offset_csv(tmp_path, monkeypatch):
    """A 200x100 pair whose target keypoints are the source's plus (SHIFT, 0); their box is 100 px wide."""
    monkeypatch.setitem(MATCHERS, "shift", MatcherSpec("shift", shift_matcher, "constant offset"))
    for name in ("a", "b"):
        save_image(tmp_path / f"{name}.png", textured(1, 100, 200))
    xs, ys = [50.0, 100.0, 144.0], [30.0, 60.0, 80.0]
    cols = [xs, ys, [x + SHIFT for x in xs], ys]
    text = "source_image,target_image,class,XA,YA,XB,YB\na.png,b.png,x," + ",".join(
        ";".join(f"{v:g}" for v in c) for c in cols
    )
    (tmp_path / "pairs.csv").write_text(text + "\n")
    return tmp_path / "pairs.csv"


def test_exact_offset_scores_one_under_both_norms(offset_csv):
    pairs = datasets.pairs_csv(offset_csv)
    for norm in ("bbox", "image"):
        r = evaluate("pairs-csv", pairs, EvalConfig("shift", "x", None, alphas=(0.01,), pck_norm=norm))
        assert r.groups["mean"]["pck@0.01"] == 1.0


def test_known_error_box_vs_image(tmp_path, monkeypatch):
    """A 6-px error: wrong at 0.05 of a 100-px box (5 px), right at 0.1 (10 px); right at 0.05 of the
    200-px image (10 px). The box is the target keypoints' tight box, its longer side (SPair)."""
    monkeypatch.setitem(MATCHERS, "shift", MatcherSpec("shift", shift_matcher, "constant offset"))
    for name in ("a", "b"):
        save_image(tmp_path / f"{name}.png", textured(2, 100, 200))
    # the target keypoints equal the source's: the shift matcher is SHIFT px off for every one
    xs, ys = "40;90;140", "20;50;60"  # box 100 x 40 px: the longer side (100) sets the threshold
    (tmp_path / "p.csv").write_text(f"source_image,target_image,class,XA,YA,XB,YB\na.png,b.png,x,{xs},{ys},{xs},{ys}\n")
    pairs = datasets.pairs_csv(tmp_path / "p.csv")
    box = evaluate("pairs-csv", pairs, EvalConfig("shift", "x", None, alphas=(0.05, 0.1)))  # the default
    image = evaluate("pairs-csv", pairs, EvalConfig("shift", "x", None, alphas=(0.05, 0.1), pck_norm="image"))
    assert box.config.pck_norm == "bbox"
    assert (box.groups["mean"]["pck@0.05"], box.groups["mean"]["pck@0.1"]) == (0.0, 1.0)
    assert (image.groups["mean"]["pck@0.05"], image.groups["mean"]["pck@0.1"]) == (1.0, 1.0)


def test_cli_defaults_to_box_and_names_it(offset_csv, tmp_path, capsys):
    out = tmp_path / "r.json"
    code, table, err = run_cli(
        capsys,
        "eval",
        "--dataset",
        "pairs-csv",
        str(offset_csv),
        "--method",
        "shift",
        "--size",
        "200",
        "--json",
        str(out),
    )
    assert code == 0, err
    assert "bbox normalisation" in table and "bounding box" in table and "pck@0.05" in table and "pck@0.1" in table
    data = json.loads(out.read_text())
    assert data["config"]["pck_norm"] == "bbox" and "bounding box" in data["pck_normalisation"]
    assert data["groups"]["mean"]["pck@0.1"] == 1.0


# ---------------------------------------------------------------------------------------- warps set


def test_warp_keypoints_are_exact():
    """With no appearance change the target at each target keypoint is the source read at its pair."""
    photo = textured(3, 96, 128)
    pair = warps.make_pair(photo, np.random.default_rng(0), appearance=0.0)
    assert len(pair.target_points) >= 20
    q, p = torch.as_tensor(pair.target_points), torch.as_tensor(pair.source_points, dtype=torch.float32)
    at_q = pair.target[0, :, q[:, 1].long(), q[:, 0].long()]
    at_p = sample(photo, p.T[:, None, :])[0, :, 0]  # bilinear read at the exact source points
    torch.testing.assert_close(at_q, at_p, atol=1e-5, rtol=0)
    np.testing.assert_allclose(pair.mapping[:, q[:, 1].long(), q[:, 0].long()].T.numpy(), pair.source_points, atol=1e-3)


def test_pck_of_the_true_warp_is_one(tmp_path, monkeypatch):
    """A homography-only pair scored with the homography's exact inverse flow: PCK@0.01 (box) is 1."""
    photo = textured(4, 120, 160)
    pair = warps.make_pair(photo, np.random.default_rng(5), tps_jitter=0.0, appearance=0.3)
    h, w = photo.shape[-2:]
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    mapped = pair.mapping[:, corners[:, 1].astype(int), corners[:, 0].astype(int)].T.double().numpy()
    back = warps.homography(mapped, corners)  # source -> target

    def true_flow(image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str, **options) -> torch.Tensor:
        ys, xs = np.mgrid[0:h, 0:w].astype(float)
        pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
        q = back @ pts
        return torch.as_tensor(np.stack([q[0] / q[2] - xs.ravel(), q[1] / q[2] - ys.ravel()]).reshape(2, h, w))

    monkeypatch.setitem(MATCHERS, "true", MatcherSpec("true", true_flow, "exact"))
    save_image(tmp_path / "a.png", pair.source)
    save_image(tmp_path / "b.png", pair.target)
    cols = [pair.source_points[:, 0], pair.source_points[:, 1], pair.target_points[:, 0], pair.target_points[:, 1]]
    row = ",".join(";".join(f"{v:.4f}" for v in c) for c in cols)
    (tmp_path / "p.csv").write_text(f"source_image,target_image,class,XA,YA,XB,YB\na.png,b.png,warps,{row}\n")
    r = evaluate("pairs-csv", datasets.pairs_csv(tmp_path / "p.csv"), EvalConfig("true", "x", None, alphas=(0.01,)))
    assert r.groups["mean"]["pck@0.01"] == 1.0


def test_warp_set_is_deterministic(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        save_image(photos / f"p{i}.png", textured(10 + i, 80, 100))
    a = warps.write_set(photos, tmp_path / "one", 2, seed=7, size=64)
    b = warps.write_set(photos, tmp_path / "two", 2, seed=7, size=64)
    assert a.read_text() == b.read_text()
    for name in ("000_a.png", "000_b.png", "001_b.png"):
        assert (tmp_path / "one" / "images" / name).read_bytes() == (tmp_path / "two" / "images" / name).read_bytes()
    pairs = datasets.pairs_csv(a)  # a valid pair list: every keypoint inside its image
    assert len(pairs) == 2 and all(len(p.source_points) > 0 for p in pairs)
