"""Deep Image Analogy end to end on tiny images, the CLI and the time-lapse app."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from analogist.cli import main
from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image, read_flo
from analogist.methods.analogy import AnalogyParams, deep_image_analogy, weight_map
from analogist.synthesis.warp import compose

FAST = AnalogyParams(size=None, lbfgs_iters=2, pm_iters=2)


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return load_image(example_path("astronaut.jpg"), 80)


@pytest.fixture(scope="module")
def small() -> torch.Tensor:
    return load_image(example_path("astronaut.jpg"), 48)


def _psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / (x - y).pow(2).mean().item())


def test_identity_pair(small: torch.Tensor, device: torch.device) -> None:
    photo = small
    res = deep_image_analogy(photo.to(device), photo.to(device), FAST)
    assert res.a_prime.device.type == res.flow_ab.device.type == device.type
    res = replace(res, **{k: getattr(res, k).cpu() for k in ("a_prime", "b", "flow_ab", "flow_ba")})
    h, w = photo.shape[-2:]
    assert res.a_prime.shape == photo.shape and res.b.shape == photo.shape
    assert res.flow_ab.shape == (2, h, w) and res.flow_ba.shape == (2, h, w)
    still = (res.flow_ab.abs().amax(0) == 0).float().mean().item()
    assert still > 0.95, still
    assert _psnr(res.a_prime, photo) > 30
    assert _psnr(res.b, photo) > 30
    assert set(res.timings) >= {"features", "vote", "total"}


def test_shifted_crop_recovers_shift_and_is_consistent(photo: torch.Tensor) -> None:
    dx, dy = 6, 4
    a = photo[..., :64, :64]
    b = photo[..., dy : dy + 64, dx : dx + 64]  # a(p) = b(p - (dx, dy))
    res = deep_image_analogy(a, b, FAST)
    inner = (slice(dy + 6, 58), slice(dx + 6, 58))
    fab = res.flow_ab[:, inner[0], inner[1]]
    ok = ((fab[0] + dx).abs() <= 1) & ((fab[1] + dy).abs() <= 1)
    assert ok.float().mean() > 0.8
    assert fab[0].median() == -dx and fab[1].median() == -dy
    # bidirectional consistency: A -> B' -> A comes back where it started
    back = compose(res.flow_ab, res.flow_ba)[:, inner[0], inner[1]]
    assert (back.abs().amax(0) <= 1).float().mean() > 0.8


def test_different_sizes_and_aspect() -> None:
    a = load_image(example_path("cat.jpg"), 48)
    b = load_image(example_path("coffee.jpg"), 44)[..., :36, :]
    res = deep_image_analogy(a, b, replace(FAST, match_backbone="efficientnet-lite0"))  # semantic seeding
    assert res.a_prime.shape == a.shape and res.b.shape == b.shape
    assert res.flow_ab.shape == (2, *a.shape[-2:]) and res.flow_ba.shape == (2, *b.shape[-2:])
    # every flow lands inside the other image
    ys, xs = torch.meshgrid(torch.arange(a.shape[-2]), torch.arange(a.shape[-1]), indexing="ij")
    assert (xs + res.flow_ab[0]).max() <= b.shape[-1] - 1 and (ys + res.flow_ab[1]).min() >= 0


def test_weight_map_step_and_sigmoid() -> None:
    feat = torch.zeros(1, 4, 8, 8)
    feat[..., :, 4:] = 1.0
    step = weight_map(feat, 0.7, AnalogyParams(weight_map="step"))
    sig = weight_map(feat, 0.7, AnalogyParams(weight_map="sigmoid"))
    assert torch.allclose(step[..., :, 4:], torch.tensor(0.7)) and (step[..., :, :4] == 0).all()
    assert (sig[..., :, 4:] > 0.69).all() and (sig[..., :, :4] < 0.01).all()


def test_params_are_validated() -> None:
    with pytest.raises(InputError):
        AnalogyParams(mode="nope")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        AnalogyParams(alphas=(0.8, 0.7))
    with pytest.raises(InputError):
        AnalogyParams(coherence=-0.1)
    with pytest.raises(InputError):
        AnalogyParams(consistency_trunc=0)
    with pytest.raises(InputError):
        AnalogyParams(guide_weight=-0.5)
    with pytest.raises(InputError):
        deep_image_analogy(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32), FAST)


def test_cli_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "-q",
            "analogy",
            str(example_path("cat.jpg")),
            str(example_path("cat_painting.jpg")),
            "-o",
            str(out),
            "--size",
            "40",
            "--iters",
            "2",
        ]
    )
    assert code == 0
    a_prime = load_image(out / "a_prime.png")
    b = load_image(out / "b.png")
    fab, fba = read_flo(out / "flow_ab.flo"), read_flo(out / "flow_ba.flo")
    assert fab.shape == (2, *a_prime.shape[-2:]) and fba.shape == (2, *b.shape[-2:])
    assert np.isfinite(fab).all() and np.isfinite(fba).all()
    for name in ("flow_ab.png", "flow_ba.png", "overview.png"):
        assert load_image(out / name).shape[-1] > 0
    report = json.loads((out / "report.json").read_text())
    assert report["backbone"] == "vgg16-hed" and report["peak_memory_mb"] > 0
    assert report["params"]["lbfgs_iters"] == 2 and report["timings_s"]["total"] > 0


def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    cat = str(example_path("cat.jpg"))
    assert main(["analogy", str(bad), cat, "-o", str(tmp_path / "o")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["analogy", str(tmp_path / "missing.png"), cat, "-o", str(tmp_path / "o")]) == 2
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["analogy", cat, cat, "-o", str(blocker)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["analogy", cat, cat, "-o", str(tmp_path / "o"), "--weight-offset", "3"])
    assert exc.value.code == 2


def test_timelapse_cli(tmp_path: Path) -> None:
    out = tmp_path / "tl"
    code = main(
        [
            "-q",
            "timelapse",
            str(example_path("coffee.jpg")),
            str(example_path("rocket.jpg")),
            str(example_path("astronaut.jpg")),
            "-o",
            str(out),
            "--size",
            "32",
            "--iters",
            "1",
            "--transition",
            "2",
        ]
    )
    assert code == 0
    assert (out / "frame_000.png").is_file() and (out / "frame_001.png").is_file()
    from PIL import Image

    with Image.open(out / "timelapse.gif") as gif:
        assert gif.n_frames == 4


def test_guide_features_sit_on_every_level_grid_at_their_weight() -> None:
    """The semantic features added to each level's match: on that level's grids of A and B', unit
    vectors times ``guide_weight``, from the backbone layer nearest the level's resolution."""
    from analogist.features import get_backbone
    from analogist.methods.analogy.core import _guide_features

    a = load_image(example_path("cat.jpg"), 96)[..., :64, :64]
    b = load_image(example_path("coffee.jpg"), 96)[..., :48, :64]
    grids = {"relu5_1": ((4, 4), (3, 4)), "relu3_1": ((16, 16), (12, 16))}
    params = AnalogyParams(guide_weight=0.5)
    out = _guide_features(a, b, grids, params)
    for level, (grid_a, grid_b) in grids.items():
        ga, gb = out[level]
        assert tuple(ga.shape[-2:]) == grid_a and tuple(gb.shape[-2:]) == grid_b
        assert torch.allclose(ga.norm(dim=1), torch.full(grid_a, 0.5), atol=1e-5)
    # relu3_1 (a quarter of the image) takes stage2, EfficientNet's quarter-resolution layer, unresized
    stage2 = get_backbone("efficientnet-lite0").extract(a, ["stage2"])["stage2"]
    assert torch.allclose(out["relu3_1"][0], 0.5 * stage2 / stage2.norm(dim=1, keepdim=True), atol=1e-5)
