"""Benchmarks: metrics computed by hand, the three dataset readers on tiny fixtures, the runner, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image

from analogist.errors import InputError
from analogist.eval import datasets, metrics, tss
from analogist.eval.matchers import MATCHERS, MatcherSpec, nn_matcher
from analogist.eval.runner import EvalConfig, evaluate
from analogist.io import write_flo
from analogist.matching.nearest import nearest_neighbours

FIXTURES = Path(__file__).parents[1] / "fixtures" / "eval"


# ----------------------------------------------------------------------------------------- helpers


def zero_matcher(image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str, **options) -> torch.Tensor:
    """The identity correspondence: every pixel maps to the same coordinates."""
    return torch.zeros(2, *image_a.shape[-2:])


@pytest.fixture
def zero(monkeypatch) -> str:
    monkeypatch.setitem(MATCHERS, "zero", MatcherSpec("zero", zero_matcher, "identity"))
    return "zero"


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """uint8 RGB with structure at several scales (so deep features are distinctive)."""
    small = rng.random((h // 8 + 1, w // 8 + 1, 3))
    img = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), dtype=np.float64)
    img += rng.random((h, w, 3)) * 60
    return np.clip(img, 0, 255).astype(np.uint8)


def keypoint_dataset(tmp_path: Path, rng: np.random.Generator) -> Path:
    """The committed csv/json fixtures plus synthetic 200x100 images a, b, c."""
    root = tmp_path / "kp"
    shutil.copytree(FIXTURES, root)
    for folder in (root / "JPEGImages", root / "spair" / "JPEGImages" / "cat", root / "spair" / "JPEGImages" / "dog"):
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("a", "b", "c"):
            Image.fromarray(smooth_image(rng, 100, 200)).save(folder / f"{name}.png")
    return root


def tss_dataset(tmp_path: Path, rng: np.random.Generator) -> Path:
    """Two TSS pairs: FG3DCar/s (image2 = image1 shifted by (4, 2)) and PASCAL/m (image2 mirrored, flip 1)."""
    root = tmp_path / "tss"
    h, w = 48, 64
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.zeros((h, w), np.uint8)
    mask[8:40, 8:56] = 255
    img = smooth_image(rng, h, w)
    # shift pair: B(x + 4, y + 2) = A(x, y)
    d = root / "FG3DCar" / "s"
    d.mkdir(parents=True)
    shifted = np.zeros_like(img)
    shifted[2:, 4:] = img[:-2, :-4]
    flow = np.stack([np.full((h, w), 4.0, np.float32), np.full((h, w), 2.0, np.float32)])
    flow[:, :4, :] = 1e10  # unknown rows, as in the kit
    _write_pair(d, img, shifted, flow, -flow, mask, mask, flip=0)
    # mirrored pair: B(w - 1 - x, y) = A(x, y)
    d = root / "PASCAL" / "m"
    d.mkdir(parents=True)
    mflow = np.stack([(w - 1 - xs) - xs, np.zeros_like(ys)])
    _write_pair(d, img, img[:, ::-1], mflow, mflow, mask, mask[:, ::-1], flip=1)
    return root


def _write_pair(d: Path, im1, im2, f1, f2, m1, m2, flip: int) -> None:
    Image.fromarray(im1).save(d / "image1.png")
    Image.fromarray(np.ascontiguousarray(im2)).save(d / "image2.png")
    write_flo(d / "flow1.flo", f1)
    write_flo(d / "flow2.flo", f2)
    Image.fromarray(m1).save(d / "mask1.png")
    Image.fromarray(np.ascontiguousarray(m2)).save(d / "mask2.png")
    (d / "flip_gt.txt").write_text(f"{flip}\n")
    (d / "corr.txt").write_text("0.5\t0.5\t0.5\t0.5\n")
    (d / "pair.txt").write_text("Image1,Image2\na.jpg,b.jpg\n")


# ----------------------------------------------------------------------------------------- metrics


def test_flow_accuracy_of_ground_truth_is_one(rng):
    gt = rng.normal(0, 20, (2, 30, 40)).astype(np.float32)
    gt[:, :5] = 1e10
    mask = rng.random((30, 40)) > 0.3
    assert metrics.flow_accuracy(gt, gt, mask) == 1.0
    assert metrics.flow_accuracy(torch.from_numpy(gt), gt, torch.from_numpy(mask)) == 1.0


def test_flow_accuracy_off_by_known_amount():
    # 100 x 200 grid: the longer side 200 -> 100 px halves every error
    gt = np.zeros((2, 100, 200), np.float32)
    est = gt.copy()
    est[0, :, :100] += 8.0  # 4 px at 100 px: correct
    est[0, :, 100:] += 12.0  # 6 px: wrong
    mask = np.ones((100, 200), bool)
    assert metrics.flow_accuracy(est, gt, mask) == pytest.approx(0.5)
    # unknown ground truth and background are ignored: only the left third's foreground counts ...
    gt2 = gt.copy()
    gt2[:, :, 150:] = 1e10
    mask2 = mask.copy()
    mask2[:, 50:100] = False
    # ... 50 correct columns (0..49) and 50 wrong ones (100..149)
    assert metrics.flow_accuracy(est, gt2, mask2) == pytest.approx(0.5)
    # a 12 px error within threshold 6 at 100 px; errors are scaled by the *target's* longer side
    assert metrics.flow_accuracy(est, gt, mask, threshold=6.0) == 1.0
    assert metrics.flow_accuracy(est, gt, mask, target_size=(100, 400)) == 1.0  # 12 px -> 3 px
    assert metrics.flow_accuracy(est, gt, mask, target_size=(50, 50)) == 0.0  # 8 px -> 16 px


def test_flow_to_size_scales_vectors():
    f = torch.zeros(2, 10, 20)
    f[0] = 3.0
    up = metrics.flow_to_size(f, (20, 40))
    assert up.shape == (2, 20, 40)
    assert torch.allclose(up[0], torch.full((20, 40), 6.0), atol=1e-4)


def test_pck_and_normalisations():
    gt = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0], [0.0, 0.0]])
    pred = gt + np.array([[0, 0], [3, 4], [6, 8], [np.nan, 0]])  # distances 0, 5, 10, NaN
    assert metrics.pck(pred, gt, 5.0) == 0.5
    assert metrics.pck(pred, gt, 10.0) == 0.75
    assert metrics.image_threshold(0.1, (100, 250)) == pytest.approx(25.0)
    assert metrics.bbox_threshold(0.1, [10, 20, 50, 100]) == pytest.approx(8.0)
    np.testing.assert_array_equal(metrics.keypoint_bbox(gt[:3]), [10, 10, 30, 30])


def test_transfer_keypoints_reads_flow_bilinearly():
    f = torch.zeros(2, 10, 10)
    f[0] = torch.arange(10.0)[None, :]  # dx = x
    moved = metrics.transfer_keypoints(f, np.array([[2.5, 3.0], [9.0, 9.0]]))
    np.testing.assert_allclose(moved, [[5.0, 3.0], [18.0, 9.0]], atol=1e-5)


# ------------------------------------------------------------------------------------------ matching


def test_nearest_neighbours_exact_and_chunk_independent():
    g = torch.Generator().manual_seed(0)
    b = torch.randn(16, 50, generator=g)
    perm = torch.randperm(50, generator=g)[:30]
    a = b[:, perm] * 3.0  # scaled copies: cosine ignores the norm
    idx, sim = nearest_neighbours(a, b, chunk=7)
    assert torch.equal(idx, perm)
    assert torch.allclose(sim, torch.ones(30), atol=1e-5)
    q = torch.randn(16, 40, generator=g)
    brute = (torch.nn.functional.normalize(q, dim=0).T @ torch.nn.functional.normalize(b, dim=0)).argmax(1)
    assert torch.equal(nearest_neighbours(q, b, chunk=3)[0], brute)
    assert torch.equal(nearest_neighbours(q, b, chunk=1000)[0], brute)


def test_nn_matcher_recovers_a_shift(rng):
    img = smooth_image(rng, 96, 128)
    a = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    b = torch.roll(a, shifts=(8, 16), dims=(2, 3))  # B(p + (16, 8)) = A(p)
    flow = nn_matcher(a, b, backbone="vgg16-hed", layer="relu3_3")
    assert flow.shape == (2, 96, 128)
    inner = flow[:, 24:72, 32:96].reshape(2, -1)
    assert (inner[0] - 16).abs().median() < 2 and (inner[1] - 8).abs().median() < 2
    ab, ba = MATCHERS["nn"].both(a, b, backbone="vgg16-hed", layer="relu3_3")
    assert torch.equal(ab, flow) and torch.equal(ba, nn_matcher(b, a, backbone="vgg16-hed", layer="relu3_3"))


# -------------------------------------------------------------------------------------------- readers


def test_tss_reader_and_flip(tmp_path, rng):
    root = tss_dataset(tmp_path, rng)
    pairs = tss.tss_pairs(root)
    assert [(p.name, p.subset, p.flip) for p in pairs] == [
        ("FG3DCar/s", "FG3DCar", False),
        ("PASCAL/m", "PASCAL", True),
    ]
    d = tss.load_tss_pair(pairs[0])
    assert d.image1.shape == (1, 3, 48, 64) and d.flow1.shape == (2, 48, 64)
    assert d.mask1.dtype == bool and d.mask1.sum() == 32 * 48
    np.testing.assert_allclose(d.corr, [[31.5, 23.5, 31.5, 23.5]])
    with pytest.raises(InputError, match="not a TSS folder"):
        tss.tss_pairs(tmp_path)


def test_tss_scores_identity_and_mirror(tmp_path, rng, zero):
    root = tss_dataset(tmp_path, rng)
    pairs = tss.tss_pairs(root)
    report = evaluate("tss", pairs, EvalConfig("zero", "vgg16-hed", None))
    by = {p.name: p.scores for p in report.pairs}
    # identity vs a (4, 2) shift at 64 px: 4.47 px * 100/64 = 7 px > 5 -> all wrong
    assert by["FG3DCar/s"]["accuracy"] == 0.0
    # mirrored pair: matching against the mirrored image2 makes the identity exact after mirroring back
    assert by["PASCAL/m"]["accuracy_1to2"] == 1.0 and by["PASCAL/m"]["accuracy_2to1"] == 1.0
    assert report.groups["mean"]["accuracy"] == pytest.approx(0.5)
    plain = evaluate("tss", pairs, EvalConfig("zero", "vgg16-hed", None, use_flip=False))
    assert plain.pairs[1].scores["accuracy"] < 0.2


def test_pairs_csv_reader(tmp_path, rng):
    root = keypoint_dataset(tmp_path, rng)
    pairs = datasets.pairs_csv(root / "pairs.csv")
    assert [(p.category, p.source.name, p.target.name) for p in pairs] == [
        ("car", "a.png", "b.png"),
        ("dog", "a.png", "c.png"),
    ]
    np.testing.assert_array_equal(pairs[1].target_points, [[20, 20], [65, 20], [100, 39]])
    # --root: paths relative to another folder
    moved = tmp_path / "lists"
    moved.mkdir()
    shutil.copy(root / "pairs.csv", moved / "p.csv")
    assert datasets.pairs_csv(moved / "p.csv", root=root)[0].source == root / "JPEGImages" / "a.png"


def test_spair_reader(tmp_path, rng):
    root = keypoint_dataset(tmp_path, rng) / "spair"
    pairs = datasets.spair(root)
    assert [(p.name, p.category) for p in pairs] == [("000001-a-b-cat", "cat"), ("000002-a-c-dog", "dog")]
    assert pairs[0].source == root / "JPEGImages" / "cat" / "a.png"
    np.testing.assert_array_equal(pairs[0].target_bbox, [40, 20, 80, 50])


def test_keypoint_outside_image_names_file_and_row(tmp_path, rng):
    root = keypoint_dataset(tmp_path, rng)
    text = (root / "pairs.csv").read_text().replace("53;159", "53;259")
    (root / "bad.csv").write_text(text)
    with pytest.raises(InputError, match=r"bad.csv row 2: keypoint \(259, 70\) lies outside b.png"):
        datasets.pairs_csv(root / "bad.csv")


# --------------------------------------------------------------------------------------------- runner


def test_pck_image_vs_bbox_normalisation(tmp_path, rng, zero):
    """Hand-computed: pair 1 misses by 3 and 9 px, pair 2 by 0, 5 and 19 px (200x100 images)."""
    pairs = datasets.pairs_csv(keypoint_dataset(tmp_path, rng) / "pairs.csv")
    image = evaluate("pairs-csv", pairs, EvalConfig("zero", "vgg16-hed", None, alphas=(0.05, 0.1), pck_norm="image"))
    bbox = evaluate("pairs-csv", pairs, EvalConfig("zero", "vgg16-hed", None, alphas=(0.05, 0.1), pck_norm="bbox"))
    # image: thresholds 10 and 20 px
    assert [p.scores["pck@0.05"] for p in image.pairs] == pytest.approx([1.0, 2 / 3])
    assert image.groups["mean"]["pck@0.1"] == pytest.approx(1.0)
    # bbox of the target keypoints: 106 px (pair 1) and 80 px (pair 2) -> 5.3/10.6 and 4/8 px
    assert [p.scores["pck@0.05"] for p in bbox.pairs] == pytest.approx([0.5, 1 / 3])
    assert [p.scores["pck@0.1"] for p in bbox.pairs] == pytest.approx([1.0, 2 / 3])
    assert bbox.groups["mean"]["pck@0.05"] == pytest.approx((0.5 + 1 / 3) / 2)
    assert set(bbox.groups) == {"car", "dog", "mean"}


def test_pck_of_identity_on_identical_images_is_one(tmp_path, rng, zero):
    root = keypoint_dataset(tmp_path, rng)
    csv = root / "same.csv"
    csv.write_text(
        "source_image,target_image,class,XA,YA,XB,YB\n"
        "JPEGImages/a.png,JPEGImages/a.png,1,10;100;199,5;50;99,10;100;199,5;50;99\n"
    )
    pairs = datasets.pairs_csv(csv)
    for size in (None, 64):  # resizing for matching maps keypoints there and back exactly
        r = evaluate("pairs-csv", pairs, EvalConfig("zero", "vgg16-hed", size, alphas=(0.01,)))
        assert r.groups["mean"]["pck@0.01"] == 1.0


def test_spair_pck_uses_target_box(tmp_path, rng, zero):
    pairs = datasets.spair(keypoint_dataset(tmp_path, rng) / "spair")
    r = evaluate("spair", pairs, EvalConfig("zero", "vgg16-hed", None, alphas=(0.1, 0.15), pck_norm="bbox"))
    # cat: box 40 px -> 4 px (misses 3, 10); dog: box 180 px -> 18 / 27 px (misses 0, 20)
    assert r.groups["cat"]["pck@0.1"] == 0.5 and r.groups["dog"]["pck@0.1"] == 0.5
    assert r.groups["dog"]["pck@0.15"] == 1.0


def test_missing_image_is_skipped(tmp_path, rng, zero):
    root = keypoint_dataset(tmp_path, rng)
    (root / "JPEGImages" / "c.png").unlink()
    r = evaluate("pairs-csv", datasets.pairs_csv(root / "pairs.csv"), EvalConfig("zero", "vgg16-hed", None))
    assert r.pairs[1].skipped and "c.png" in r.pairs[1].skipped
    assert r.counts["mean"] == 1 and "dog" not in r.groups


@pytest.mark.slow
def test_workers_match_serial(tmp_path, rng):
    root = tss_dataset(tmp_path, rng)
    pairs = tss.tss_pairs(root)
    cfg = EvalConfig("nn", "vgg16-hed", 64, options=(("layer", "relu3_3"),))
    serial = evaluate("tss", pairs, cfg)
    parallel = evaluate("tss", pairs, cfg, workers=2)
    assert [p.scores for p in serial.pairs] == [p.scores for p in parallel.pairs]
    assert serial.groups == parallel.groups


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_reports_missing_image_and_writes_json(tmp_path, rng, capsys, zero):
    root = keypoint_dataset(tmp_path, rng)
    (root / "JPEGImages" / "c.png").unlink()
    out = tmp_path / "r.json"
    code, table, err = run_cli(
        capsys,
        "eval",
        "--dataset",
        "pairs-csv",
        str(root / "pairs.csv"),
        "--method",
        "zero",
        "--size",
        "200",
        "--alpha",
        "0.05,0.1",
        "--pck-norm",
        "bbox",
        "--json",
        str(out),
    )
    assert code == 0, err
    assert "skipped" in err and "c.png" in err
    assert "pck@0.05" in table and "car" in table
    data = json.loads(out.read_text())
    assert data["groups"]["car"]["pck@0.05"] == 0.5 and data["config"]["pck_norm"] == "bbox"


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--dataset", "kitti", "{root}", "--method", "nn"], "unknown dataset kind"),
        (["--dataset", "pairs-csv", "{root}/bad.csv", "--method", "nn"], "row 2"),
        (["--dataset", "pairs-csv", "{root}/pairs.csv", "--method", "nn", "--alpha", "0.1,x"], "--alpha"),
        (["--dataset", "tss", "{root}", "--method", "nn"], "not a TSS folder"),
        (["--dataset", "pairs-csv", "{root}/pairs.csv", "--method", "dia", "--layer", "relu4_3"], "does not apply"),
        (["--dataset", "pairs-csv", "{root}/pairs.csv", "--method", "nope"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, rng, capsys, argv, needle):
    root = keypoint_dataset(tmp_path, rng)
    (root / "bad.csv").write_text(
        "source_image,target_image,class,XA,YA,XB,YB\nJPEGImages/a.png,JPEGImages/b.png,1,5,500,5,5\n"
    )
    code, _, err = run_cli(capsys, "eval", *[a.format(root=root) for a in argv])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


@pytest.mark.shared
def test_tss_sample_reader_matches_corr(shared_dir):
    """On the real files: flow1 agrees with corr.txt in unmirrored coordinates, flipped pair included."""
    pairs = tss.tss_pairs(shared_dir / "data" / "tss-sample")
    assert len(pairs) == 6 and sum(p.flip for p in pairs) == 1
    for p in pairs:
        d = tss.load_tss_pair(p)
        xi = np.clip(np.round(d.corr[:, 0]).astype(int), 0, d.flow1.shape[2] - 1)
        yi = np.clip(np.round(d.corr[:, 1]).astype(int), 0, d.flow1.shape[1] - 1)
        f = d.flow1[:, yi, xi]
        ok = (np.abs(f) < 1e9).all(0)
        err = np.hypot(xi + f[0] - d.corr[:, 2], yi + f[1] - d.corr[:, 3])[ok]
        assert np.median(err) < 2.0, p.name


def test_registry_builds_method_parameters():
    from analogist.eval.matchers import _params
    from analogist.methods.analogy import AnalogyParams
    from analogist.methods.buddies import BuddiesParams

    assert set(MATCHERS) >= {"nn", "dia", "buddies"} and MATCHERS["dia"].both is not None
    p = _params(AnalogyParams, "vgg16-hed", {"pm_iters": 2})
    assert (p.backbone, p.size, p.pm_iters) == ("vgg16-hed", None, 2)  # the runner already resized
    assert _params(BuddiesParams, "vgg16-hed", {}).size is None
    with pytest.raises(InputError, match="no parameter bogus"):
        _params(BuddiesParams, "vgg16-hed", {"bogus": 1})
