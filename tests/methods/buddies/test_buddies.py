"""Neural Best-Buddies: mutual at every level, known shifts and scales recovered, filtering, ranking,
spreading, the applications and the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from analogist.cli import main
from analogist.data import example_path
from analogist.features import get_backbone
from analogist.io import load_image
from analogist.matching import buddies as nbb
from analogist.matching.pairs import pairs_flow, spread_top_k
from analogist.methods.buddies import BuddiesParams, neural_best_buddies
from analogist.training.device import on_cpu

CAT = example_path("cat.jpg")
PAINTING = example_path("cat_painting.jpg")


@pytest.fixture(scope="module")
def cat() -> torch.Tensor:
    return load_image(CAT, 192)


@pytest.fixture(scope="module")
def shifted(cat: torch.Tensor):
    """A and B = A moved by (-16, -8): a pixel (x, y) of A is (x - 16, y - 8) in B."""
    a = cat[:, :, 0:112, 0:144]
    b = cat[:, :, 8:120, 16:160]
    params = BuddiesParams(size=None, k=8)
    return a, b, params, neural_best_buddies(a, b, params)


# ------------------------------------------------------------------------------------ pure functions


def test_patch_correlation_equals_brute_force_cosine() -> None:
    g = torch.Generator().manual_seed(0)
    fa, fb = torch.randn(1, 6, 9, 10, generator=g), torch.randn(1, 6, 8, 7, generator=g)
    regions = nbb.RegionPairs(torch.tensor([[2, 3]]), torch.tensor([[1, 0]]), (3, 4), (4, 3))
    corr, va, vb = nbb.region_correlation(fa, fb, regions, 3, common=False)
    assert corr.shape == (1, 12, 12)
    for ia in (0, 5, 11):
        ya, xa = 2 + ia // 4, 3 + ia % 4
        pa = fa[0, :, ya - 1 : ya + 2, xa - 1 : xa + 2].flatten()
        for ib in (1, 5, 11):
            yb, xb = 1 + ib // 3, ib % 3
            pb = fb[0, :, yb - 1 : yb + 2, xb - 1 : xb + 2].flatten()
            assert corr[0, ia, ib] == pytest.approx(float(F.cosine_similarity(pa, pb, dim=0)), abs=1e-5)
    # positions whose neighbourhood would leave the map are never candidates
    assert va.all() and not vb.view(4, 3)[:, 0].any()


def test_common_appearance_meets_halfway() -> None:
    g = torch.Generator().manual_seed(1)
    wa = torch.randn(2, 7, 7, 4, generator=g) * 3 + 5
    wb = torch.randn(2, 7, 7, 4, generator=g) * 0.5 - 1
    valid = torch.ones(2, 5, 5, dtype=torch.bool)
    ca, cb = nbb.common_appearance(wa, valid, wb, valid, 1)
    inner_a, inner_b = ca[:, 1:-1, 1:-1].reshape(2, -1, 4), cb[:, 1:-1, 1:-1].reshape(2, -1, 4)
    assert torch.allclose(inner_a.mean(1), inner_b.mean(1), atol=1e-4)
    assert torch.allclose(inner_a.std(1, unbiased=False), inner_b.std(1, unbiased=False), atol=1e-4)
    ra, rb = wa[:, 1:-1, 1:-1].reshape(2, -1, 4), wb[:, 1:-1, 1:-1].reshape(2, -1, 4)
    assert torch.allclose(inner_a.mean(1), (ra.mean(1) + rb.mean(1)) / 2, atol=1e-4)


def test_mutual_nearest_keeps_only_mutual_pairs() -> None:
    corr = torch.tensor([[[0.9, 0.1, 0.0], [0.8, 0.2, 0.1], [0.0, 0.3, 0.7]]])
    ones = torch.ones(1, 3, dtype=torch.bool)
    pair, ia, ib = nbb.mutual_nearest(corr, ones, ones)
    assert sorted(zip(ia.tolist(), ib.tolist())) == [(0, 0), (2, 2)]
    # an invalid position can neither match nor be matched
    pair, ia, ib = nbb.mutual_nearest(corr, torch.tensor([[False, True, True]]), ones)
    assert sorted(zip(ia.tolist(), ib.tolist())) == [(1, 0), (2, 2)]


def test_activation_filter_and_normalisation() -> None:
    f = torch.zeros(1, 2, 3, 3)
    f[0, 0] = torch.arange(9.0).view(3, 3)
    act = nbb.normalized_activation(f)
    assert act.min() == 0 and act.max() == 1
    pts = torch.tensor([[0, 0, 2, 2], [2, 2, 2, 2], [0, 1, 2, 2]])
    keep = nbb.activation_filter(pts, act, act, 0.1)
    assert keep.tolist() == [False, True, True]
    assert nbb.activation_filter(pts, act, act, 0.2).tolist() == [False, True, False]


def test_refine_regions_follow_receptive_fields() -> None:
    r = nbb.refine_regions(torch.tensor([[3, 5, 1, 0]]), 6)
    assert r.size_a == r.size_b == (7, 7)
    assert r.corners_a.tolist() == [[3, 7]] and r.corners_b.tolist() == [[-1, -3]]


def test_spread_top_k_takes_the_best_of_each_cluster() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[10, 10, 10, 10], [100, 10, 90, 20], [50, 90, 60, 80]], float)
    pts = torch.from_numpy(np.concatenate([c + rng.normal(0, 2, (30, 4)) for c in centres]))
    ranks = torch.from_numpy(rng.random(90))
    idx = spread_top_k(pts, ranks, 3)
    best = [int(torch.argmax(ranks[i * 30 : (i + 1) * 30])) + i * 30 for i in range(3)]
    assert sorted(idx.tolist()) == sorted(best)
    assert ranks[idx].tolist() == sorted(ranks[idx].tolist(), reverse=True)
    assert torch.equal(idx, spread_top_k(pts, ranks, 3))  # fixed seed: deterministic
    assert len(set(spread_top_k(pts, ranks, 40).tolist())) == 40
    assert len(spread_top_k(pts[:5], ranks[:5], 10)) == 5


# ------------------------------------------------------------------------------------ whole method


def test_known_translation_is_recovered(shifted) -> None:
    _, _, _, result = shifted
    d = result.points[:, 2:] - result.points[:, :2]
    assert result.points.shape[0] > 50
    good = ((d - torch.tensor([-16.0, -8.0])).abs() <= 1.0).all(dim=1).float()
    assert good.mean() > 0.9
    assert good[result.top_k].mean() >= 0.75


def test_known_scaling_is_recovered(cat: torch.Tensor) -> None:
    a = cat[:, :, :, 16:176]
    b = F.interpolate(a, scale_factor=0.75, mode="bilinear", antialias=True, align_corners=False)
    result = neural_best_buddies(a, b, BuddiesParams(size=None, k=5))
    pa, pb = result.points[:, :2].double(), result.points[:, 2:].double()
    expected = (pa + 0.5) * torch.tensor([b.shape[-1] / a.shape[-1], b.shape[-2] / a.shape[-2]]) - 0.5
    err = (pb - expected).norm(dim=1)
    assert result.points.shape[0] > 30
    assert err.median() < 1.5
    assert (err < 3).float().mean() > 0.8


def test_every_pair_is_mutual_at_every_level(shifted) -> None:
    assert_mutual_at_every_level(*shifted)


def assert_mutual_at_every_level(a: torch.Tensor, b: torch.Tensor, params: BuddiesParams, result) -> None:
    net = get_backbone(params.backbone)
    feats_a, feats_b = net.extract(a), net.extract(b)
    g = torch.Generator().manual_seed(0)
    for i, lv in enumerate(result.levels):
        anc = result.ancestors(i).unique()
        # recomputing every region pair of the fine levels costs seconds: check the ancestors of the
        # top k and a seeded sample of the rest (all of them at the coarse levels)
        if len(anc) > 300:
            sample = anc[torch.randperm(len(anc), generator=g)[:300]]
            anc = torch.cat([result.ancestors(i)[result.top_k], sample]).unique()
        reg = lv.regions
        pad_a, pad_b = nbb.pad_map(feats_a[lv.layer], lv.patch // 2), nbb.pad_map(feats_b[lv.layer], lv.patch // 2)
        for chunk in anc.split(512):
            sub = nbb.RegionPairs(
                reg.corners_a[lv.region[chunk]], reg.corners_b[lv.region[chunk]], reg.size_a, reg.size_b
            )
            corr, va, vb = nbb.region_correlation(pad_a, pad_b, sub, lv.patch)
            corr = corr.masked_fill(~(va[:, :, None] & vb[:, None, :]), float("-inf"))
            pts = lv.points[chunk]
            ia = (pts[:, 0] - sub.corners_a[:, 0]) * reg.size_a[1] + pts[:, 1] - sub.corners_a[:, 1]
            ib = (pts[:, 2] - sub.corners_b[:, 0]) * reg.size_b[1] + pts[:, 3] - sub.corners_b[:, 1]
            rows = torch.arange(len(chunk))
            assert torch.equal(corr[rows, ia].argmax(dim=1), ib), lv.layer
            assert torch.equal(corr[rows, :, ib].argmax(dim=1), ia), lv.layer
        pts = lv.points[anc]
        # every ancestor also passed the activation filter of its level
        act_a, act_b = nbb.normalized_activation(feats_a[lv.layer]), nbb.normalized_activation(feats_b[lv.layer])
        assert nbb.activation_filter(pts, act_a, act_b, params.gamma).all()


def test_start_level_needs_room_for_one_neighbourhood() -> None:
    from analogist.methods.buddies.core import start_level

    p = BuddiesParams()
    # 224 px (the paper's size): relu5_1 is 14x14, its interior 12 spans four 3x3 neighbourhoods
    paper = [(14, 14), (28, 28), (56, 56), (112, 112), (224, 224)]
    assert start_level(p, paper, paper) == 0
    # 96 px cat: relu5_1 is 4x6, interior 2 rows < 3: the search starts at relu4_1
    small_a = [(4, 6), (8, 12), (16, 24), (32, 48), (64, 96)]
    small_b = [(5, 6), (9, 12), (18, 24), (36, 48), (72, 96)]
    assert start_level(p, small_a, small_b) == 1
    assert start_level(p, small_b, small_b) == 0  # 5 rows: interior 3 is just enough
    assert start_level(BuddiesParams(min_start_extent=0), small_a, small_b) == 0
    from analogist.errors import InputError

    with pytest.raises(InputError):
        start_level(p, [(1, 1), (1, 1), (1, 2), (2, 3), (4, 5)], paper)


def test_small_images_find_mutual_buddies(cat: torch.Tensor, device: torch.device) -> None:
    """At 64x96 px relu5_1 is 4x6: the search starts one level finer and still recovers a shift."""
    a = cat[:, :, 40:104, 40:136]
    b = cat[:, :, 48:112, 52:148]
    params = BuddiesParams(size=None, k=6)
    result = neural_best_buddies(a.to(device), b.to(device), params)
    assert result.points.device.type == device.type
    result = on_cpu(result)
    assert [lv.layer for lv in result.levels] == ["relu4_1", "relu3_1", "relu2_1", "relu1_1"]
    assert result.points.shape[0] > 100
    d = result.points[:, 2:] - result.points[:, :2]
    good = ((d - torch.tensor([-12.0, -8.0])).abs() <= 1.0).all(dim=1).float()
    assert good.mean() > 0.9
    assert good[result.top_k].mean() >= 0.66
    assert_mutual_at_every_level(a, b, params, result)
    assert torch.allclose(result.ranks, sum(lv.activation[result.ancestors(i)] for i, lv in enumerate(result.levels)))


def test_pairs_flow_takes_the_nearest_pairs_displacement() -> None:
    pts = torch.tensor([[1, 1, 3, 2], [4, 6, 4, 4]])  # (ya, xa, yb, xb)
    flow = pairs_flow(pts, (6, 8))
    assert flow.shape == (2, 6, 8)
    assert flow[:, 0, 0].tolist() == [1.0, 2.0] and flow[:, 2, 2].tolist() == [1.0, 2.0]
    assert flow[:, 5, 7].tolist() == [-2.0, 0.0] and flow[:, 4, 6].tolist() == [-2.0, 0.0]


def test_authors_common_appearance_finds_mutual_buddies(cat: torch.Tensor) -> None:
    """The authors' variant (warp B one level coarser, invert to this level, average with A): every
    pair is mutual under the features it was compared with, and a known shift is mostly recovered."""
    from analogist.methods.buddies.core import authors_common_appearance

    a = cat[:, :, 40:104, 40:136]
    b = cat[:, :, 48:112, 52:148]
    params = BuddiesParams(size=None, k=6, common_appearance="authors", deconv_iters=2)
    result = neural_best_buddies(a, b, params)
    assert result.points.shape[0] > 100
    d = result.points[:, 2:] - result.points[:, :2]
    good = ((d - torch.tensor([-12.0, -8.0])).abs() <= 1.0).all(dim=1).float()
    assert good.mean() > 0.5
    net = get_backbone(params.backbone)
    feats_a, feats_b = net.extract(a), net.extract(b)
    for i, lv in enumerate(result.levels):
        fa, fb = feats_a[lv.layer], feats_b[lv.layer]
        if i > 0:
            prev, pts = result.levels[i - 1].layer, result.levels[i - 1].points
            ca = authors_common_appearance(
                net, lv.layer, prev, fa, tuple(feats_a[prev].shape[-2:]), fb, feats_b[prev], pts, params.deconv_iters
            )
            cb = fb
            assert not torch.allclose(ca, fa)  # B's features were mixed in
        else:
            ca, cb = fa, fb
        reg = lv.regions
        sub = nbb.RegionPairs(reg.corners_a[lv.region], reg.corners_b[lv.region], reg.size_a, reg.size_b)
        corr, va, vb = nbb.region_correlation(ca, cb, sub, lv.patch, common=False)
        corr = corr.masked_fill(~(va[:, :, None] & vb[:, None, :]), float("-inf"))
        pts = lv.points
        ia = (pts[:, 0] - sub.corners_a[:, 0]) * reg.size_a[1] + pts[:, 1] - sub.corners_a[:, 1]
        ib = (pts[:, 2] - sub.corners_b[:, 0]) * reg.size_b[1] + pts[:, 3] - sub.corners_b[:, 1]
        rows = torch.arange(len(pts))
        assert torch.equal(corr[rows, ia].argmax(dim=1), ib), lv.layer
        assert torch.equal(corr[rows, :, ib].argmax(dim=1), ia), lv.layer


def test_ranks_accumulate_activations_along_the_chain(shifted) -> None:
    _, _, _, result = shifted
    total = sum(lv.activation[result.ancestors(i)] for i, lv in enumerate(result.levels))
    assert torch.allclose(result.ranks, total)
    assert len(result.top_k) == 8 and len(set(result.top_k.tolist())) == 8


def test_higher_gamma_keeps_fewer_pairs(shifted) -> None:
    a, b, params, result = shifted
    strict = neural_best_buddies(a, b, BuddiesParams(size=None, gamma=0.3))
    assert 0 < strict.points.shape[0] < result.points.shape[0]


def test_different_sizes_and_given_coordinates(cat: torch.Tensor) -> None:
    a = cat[:, :, :96, :128]
    b = F.interpolate(cat[:, :, :96, :128], size=(150, 200), mode="bilinear", align_corners=False)
    result = neural_best_buddies(a, b, BuddiesParams(size=128, k=4))
    p = result.points
    assert p.shape[1] == 4 and p.dtype == torch.float32
    assert (p[:, 0] >= -0.5).all() and (p[:, 0] <= 127.5).all() and (p[:, 2] <= 199.5).all()
    # B is A enlarged 1.5625 times: the pairs say so in the given coordinates
    ratio = ((p[:, 2:] + 0.5) / (p[:, :2] + 0.5)).median(dim=0).values
    assert torch.allclose(ratio, torch.tensor([200 / 128, 150 / 96]), atol=0.1)


def test_bad_shapes_and_tables_are_refused(cat: torch.Tensor) -> None:
    from analogist.errors import InputError

    with pytest.raises(InputError):
        neural_best_buddies(cat[0], cat)
    with pytest.raises(InputError):
        neural_best_buddies(cat, cat, BuddiesParams(neighbourhood=(3, 3)))
    with pytest.raises(InputError):
        neural_best_buddies(cat, cat, BuddiesParams(common_appearance="both"))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ applications


def test_align_brings_pairs_together(shifted) -> None:
    from analogist.apps.align import align, buddies_flow, select_pairs

    a, b, _, result = shifted
    pts = result.points[select_pairs(result.points, result.ranks, 12)]
    al = align(a, b, pts)
    assert al.a.shape == al.b.shape == a.shape
    # the aligned images agree far better than the originals where they overlap
    before = (a[..., 8:-8, 16:-16] - F.interpolate(b, size=a.shape[-2:])[..., 8:-8, 16:-16]).abs().mean()
    after = (al.a - al.b)[..., 8:-8, 16:-16].abs().mean()
    assert after < before * 0.6
    flow = buddies_flow(pts, tuple(a.shape[-2:]))
    assert torch.allclose(flow[:, 50, 70], torch.tensor([-16.0, -8.0]), atol=1.0)


def test_morph_starts_at_a_and_ends_at_b(shifted) -> None:
    from analogist.apps.morph import morph

    a, b, _, result = shifted
    frames = morph(a, b, result.points[result.top_k], 5)
    assert len(frames) == 5 and torch.equal(frames[0], a)
    assert torch.allclose(frames[-1], b, atol=1e-6)
    mid = frames[2]
    assert mid.shape == a.shape and 0 <= mid.min() and mid.max() <= 1


# --------------------------------------------------------------------------------------- command line


def test_cli_buddies_writes_valid_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "-q",
                "buddies",
                str(CAT),
                str(PAINTING),
                "-o",
                str(out),
                "--size",
                "128",
                "--search-size",
                "128",
                "--k",
                "5",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(out / "points.csv")))
    assert len(rows) == 5 and list(rows[0]) == ["xa", "ya", "xb", "yb", "rank"]
    ranks = [float(r["rank"]) for r in rows]
    assert ranks == sorted(ranks, reverse=True)
    for r in rows:
        assert 0 <= float(r["xa"]) < 128 and 0 <= float(r["yb"]) < 128
    data = json.loads((out / "points.json").read_text())
    assert len(data["top_k"]) == 5 and len(data["levels"]) == 5
    assert data["pairs"] == len(list(csv.DictReader(open(out / "all_points.csv"))))
    with Image.open(out / "buddies.png") as im:
        assert im.size[0] > 2 * 128 - 10 and im.mode == "RGB"


def test_cli_morph_and_align(tmp_path: Path) -> None:
    assert (
        main(
            [
                "-q",
                "morph",
                str(CAT),
                str(PAINTING),
                "-o",
                str(tmp_path / "m"),
                "--size",
                "96",
                "--search-size",
                "128",
                "--frames",
                "3",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "m" / "frames").glob("frame_*.png"))) == 3
    with Image.open(tmp_path / "m" / "morph.gif") as im:
        assert im.n_frames == 3
    assert (tmp_path / "m" / "morph.mp4").stat().st_size > 0
    # 96 px: the painted cat's relu5_1 map is too small to start from; the search starts at relu4_1
    assert (
        main(["-q", "align", str(CAT), str(PAINTING), "-o", str(tmp_path / "a"), "--size", "96", "--search-size", "96"])
        == 0
    )
    from analogist.io import read_flo

    assert read_flo(tmp_path / "a" / "flow.flo").shape[0] == 2
    assert (tmp_path / "a" / "aligned_b.png").exists()


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    assert main(["buddies", str(bad), str(CAT), "-o", str(tmp_path / "o")]) == 2
    assert main(["buddies", str(tmp_path / "missing.png"), str(CAT), "-o", str(tmp_path / "o")]) == 2
    assert main(["align", str(CAT), str(PAINTING), "-o", str(CAT)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["buddies", str(CAT), str(PAINTING), "-o", str(tmp_path / "o"), "--k", "0"])
    assert exc.value.code == 2


def test_hybrid_composites_the_aligned_images_by_its_mask(shifted) -> None:
    from analogist.apps.hybrid import HybridParams, hybrid

    a, b, _, result = shifted
    a, b = a[..., :64, :96], b[..., :64, :96]
    pts = result.points[result.top_k]
    pts = pts[(pts[:, [0, 2]] < 90).all(1) & (pts[:, [1, 3]] < 60).all(1)]
    hy = hybrid(a, b, pts, HybridParams(iters=1))
    assert len(hy.level_masks) == 5
    assert all(set(m.unique().tolist()) <= {0.0, 1.0} for m in hy.level_masks)
    m = hy.mask
    assert m.shape == (1, 1, 64, 96) and 0 <= m.min() and m.max() <= 1
    assert torch.allclose(hy.image, (m * hy.alignment.a + (1 - m) * hy.alignment.b).clamp(0, 1), atol=1e-6)
