"""NNST-D: the decoder's pyramid, its losses, a few training steps, checkpoints, inference and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from cli_helpers import run_cli

from analogist.data import example_path
from analogist.errors import InputError, WeightsNotFoundError
from analogist.features.hypercolumn import grid_size
from analogist.io import load_image, save_image
from analogist.methods.nnst import learned as nnst_decoder
from analogist.methods.nnst import preset, stylize
from analogist.methods.nnst.train import NNSTDecoderTask, NNSTDSettings, cycle_loss, export_decoder, laplacian_l1
from analogist.synthesis import pyramid
from analogist.synthesis.decoder import Decoder, DecoderConfig
from analogist.training import TrainConfig, fit, load_checkpoint

TINY = NNSTDSettings(
    scale=32, batch=2, decoder=DecoderConfig(reduce=16, hidden=8, convs=3), zoom=(1.0, 2.0), refs=2, critic_width=8
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("nnstd")
    for sub, names in (
        ("photos", ("cat.jpg", "astronaut.jpg", "coffee.jpg")),
        ("art", ("swirls.jpg", "cat_painting.jpg")),
    ):
        (root / sub).mkdir()
        for n in names:
            save_image(root / sub / n.replace(".jpg", ".png"), load_image(example_path(n), 64))
    return root / "photos", root / "art"


@pytest.fixture(scope="module")
def trained(folders: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "nnst-d.pt"
    fit(NNSTDecoderTask(*folders, TINY), TrainConfig(steps=3, device="cpu", out=out))
    return out


@pytest.mark.parametrize("size", [(37, 50), (64, 64), (17, 33), (5, 9)])
def test_decoder_collapses_to_the_requested_size(size: tuple[int, int]) -> None:
    dec = Decoder(DecoderConfig(reduce=8, hidden=8))
    target = torch.rand(2, 2688, *grid_size(size))
    bands = dec.bands(target, size)
    assert [tuple(b.shape[-2:]) for b in bands] == pyramid.level_sizes(*size, 4)
    out = dec(target, size)
    assert out.shape == (2, 3, *size) and torch.allclose(out, torch.full_like(out, 0.5))  # starts flat grey
    with pytest.raises(ValueError, match="does not fit"):
        dec(target, (size[0] + 8, size[1]))


def test_paper_sized_decoder_reads_every_channel() -> None:
    dec = Decoder(DecoderConfig(reduce=None, hidden=256))
    assert dec.branches[0].body[0].in_channels == 2688 and dec.branches[0].body[0].out_channels == 256


def test_losses() -> None:
    f = torch.rand(2, 2688, 5, 6)
    assert float(cycle_loss(f, f)) < 1e-6 and float(cycle_loss(f, 2.0 * f)) < 1e-6
    assert float(cycle_loss(f, torch.rand(2, 2688, 5, 6))) > 0.05
    x = torch.rand(1, 3, 20, 24)
    assert float(laplacian_l1(x, x)) == 0.0 and float(laplacian_l1(x, x + 0.1)) > 0.09


@pytest.mark.slow
def test_training_lowers_reconstruction_and_resumes_exactly(folders: tuple[Path, Path], tmp_path: Path) -> None:
    task = NNSTDecoderTask(*folders, TINY)
    state = fit(task, TrainConfig(steps=12, seed=1, device="cpu"))
    style = task.style.sample(4, torch.Generator().manual_seed(9))
    with torch.no_grad():
        feats = task.extractor.hyper(style)  # type: ignore[union-attr]
        after = float(laplacian_l1(state.models["decoder"](feats, (32, 32)), style))
        before = float(laplacian_l1(Decoder(TINY.decoder)(feats, (32, 32)), style))
    assert after < 0.85 * before

    ckpt = tmp_path / "d.pt"
    fit(NNSTDecoderTask(*folders, TINY), TrainConfig(steps=1, seed=1, device="cpu", out=ckpt))
    resumed = fit(NNSTDecoderTask(*folders, TINY), TrainConfig(steps=2, seed=1, device="cpu", out=ckpt))
    whole = fit(NNSTDecoderTask(*folders, TINY), TrainConfig(steps=2, seed=1, device="cpu"))
    assert resumed.resumed_from == 1
    for name in ("decoder", "critic"):
        a, b = resumed.models[name].state_dict(), whole.models[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_exported_checkpoint_round_trips(trained: Path, tmp_path: Path) -> None:
    small = export_decoder(trained, tmp_path / "small.pt")
    assert small.stat().st_size < trained.stat().st_size
    full = load_checkpoint(trained, kind="nnst-d")["models"]["decoder"]
    dec = nnst_decoder.load_decoder(small)
    for k, v in dec.state_dict().items():
        assert torch.equal(v, full[k].half().float()), k
    with pytest.raises(InputError, match="not of 'nnst-d'"):
        (tmp_path / "toy.pt").write_bytes(small.read_bytes().replace(b"nnst-d", b"nnst-x"))
        nnst_decoder.load_decoder(tmp_path / "toy.pt")


def test_stylize_with_the_decoder(trained: Path) -> None:
    content = load_image(example_path("astronaut.jpg"), 45)
    style = load_image(example_path("swirls.jpg"), 40)
    params = preset("decoder", checkpoint=str(trained), scales=2, rotations=False, precision="fp32")
    a = stylize(content, style, params)
    assert a.shape == content.shape and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, stylize(content, style, params))


def test_no_decoder_anywhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANALOGIST_NNST_D_CHECKPOINT", raising=False)
    monkeypatch.setenv("ANALOGIST_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr("analogist.training.checkpoint.bundled_dir", lambda: tmp_path / "none")
    content = load_image(example_path("astronaut.jpg"), 40)
    with pytest.raises(WeightsNotFoundError, match="analogist train nnst-d") as err:
        stylize(content, content, preset("decoder"))
    assert "\n" not in str(err.value)
    code, _, err_text = run_cli(
        capsys,
        "stylize",
        str(example_path("astronaut.jpg")),
        str(example_path("swirls.jpg")),
        "-o",
        str(tmp_path / "o.png"),
        "--size",
        "32",
        "--preset",
        "decoder",
        "--steps",
        "1",
        "--no-rotations",
    )
    assert code == 0 and (tmp_path / "o.png").is_file()
    assert "using --preset fast" in err_text and len(err_text.strip().splitlines()) == 1


def test_cli_train_and_stylize(folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(
        capsys, "train", "nnst-d", "--content", str(empty), "--style", str(folders[1]), "--out", str(tmp_path / "x.pt")
    )
    assert code == 2 and err.startswith("error: no images in") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()
    code, _, err = run_cli(
        capsys,
        "train",
        "nnst-d",
        "--content",
        str(folders[0]),
        "--style",
        str(folders[1]),
        "--out",
        str(tmp_path / "x.pt"),
        "--device",
        "tpu",
    )
    assert code == 2 and "unknown device" in err
    code, out, _ = run_cli(
        capsys,
        "train",
        "nnst-d",
        "--content",
        str(folders[0]),
        "--style",
        str(folders[1]),
        "--out",
        str(tmp_path / "x.pt"),
        "--scale",
        "64",
        "--batch",
        "1",
        "--steps",
        "1",
        "--hidden",
        "8",
        "--reduce",
        "8",
        "--threads",
        "1",
    )
    assert code == 0 and "steps 0 -> 1" in out and load_checkpoint(tmp_path / "x.pt")["step"] == 1
    code, _, err = run_cli(
        capsys,
        "stylize",
        str(example_path("astronaut.jpg")),
        str(example_path("swirls.jpg")),
        "-o",
        str(tmp_path / "s.png"),
        "--size",
        "40",
        "--decoder",
        str(tmp_path / "x.pt"),
    )
    assert code == 0 and (tmp_path / "s.png").is_file()
    code, _, err = run_cli(
        capsys,
        "stylize",
        str(example_path("astronaut.jpg")),
        str(example_path("swirls.jpg")),
        "-o",
        str(tmp_path / "t.png"),
        "--decoder",
        str(tmp_path / "missing.pt"),
    )
    assert code == 2 and "does not exist" in err
    shutil.copy(tmp_path / "x.pt", tmp_path / "y.pt")
    code, _, err = run_cli(
        capsys,
        "train",
        "nnst-d",
        "--content",
        str(folders[0]),
        "--style",
        str(folders[1]),
        "--out",
        str(tmp_path / "y.pt"),
        "--scale",
        "64",
        "--batch",
        "2",
        "--steps",
        "2",
        "--hidden",
        "8",
        "--reduce",
        "8",
    )
    assert code == 2 and "batch=1" in err
