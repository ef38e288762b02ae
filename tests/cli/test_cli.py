"""The command line's foundation: help, info, features, demo, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import run_cli
from PIL import Image

from analogist.data import example_path
from analogist.io import load_image


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


def test_module_entry_point_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "analogist", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("demo", "features", "info"):
        assert cmd in out


def test_info_reports_offline_backbones(capsys):
    code, out, _ = run_cli(capsys, "info")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "available offline" in lines["vgg16-hed"]
    assert "available offline" in lines["efficientnet-lite0"]
    assert "threads: torch" in out


def test_features_writes_pca_picture(tmp_path, capsys):
    out = tmp_path / "f.png"
    code, _, err = run_cli(
        capsys, "features", str(example_path("cat.jpg")), "--size", "64", "--layer", "relu2_1", "-o", str(out)
    )
    assert code == 0, err
    im = np.asarray(Image.open(out))
    h = load_image(example_path("cat.jpg"), 64).shape[-2]
    assert im.shape == ((h + 1) // 2, 32, 3)  # landscape image 64 wide, relu2_1 has stride 2, rounded up
    assert im.std() > 10  # a picture, not a flat field


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    return path


def test_bad_inputs_give_one_line_errors(tmp_path, image_file, capsys):
    out = str(tmp_path / "o.png")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    (tmp_path / "zero.png").write_bytes(b"")
    cases = [
        ("features", str(tmp_path / "missing.png"), "-o", out),
        ("features", str(tmp_path), "-o", out),
        ("features", str(tmp_path / "corrupt.jpg"), "-o", out),
        ("features", str(tmp_path / "zero.png"), "-o", out),
        ("features", str(image_file), "-o", out, "--backbone", "nope"),
        ("features", str(image_file), "-o", out, "--size", "100000"),
        ("features", str(image_file), "-o", out, "--size", "abc"),
        ("features", str(image_file), "-o", out, "--layer", "relu9_9"),
        ("features", str(image_file), "-o", str(image_file)),
        ("no-such-command",),
    ]
    before = image_file.read_bytes()
    for argv in cases:
        code, _, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err)
    assert image_file.read_bytes() == before
    assert not (tmp_path / "o.png").exists()
    for command in ("analogy", "buddies", "morph"):  # no output folder is made for inputs that fail
        code, _, err = run_cli(
            capsys, command, str(tmp_path / "missing.png"), str(image_file), "-o", str(tmp_path / command)
        )
        assert_one_line_error(code, err)
        assert not (tmp_path / command).exists()


def test_demo_writes_into_a_fresh_folder(tmp_path, capsys):
    target = tmp_path / "demo"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    code, out, err = run_cli(capsys, "demo", "-o", str(target), "--only", "features")
    assert code == 0, err
    assert (target / "keep.txt").read_text() == "mine"
    fresh = tmp_path / "demo-2" / "features"
    assert sorted(p.suffix for p in fresh.iterdir()) == [".png"] * 4
