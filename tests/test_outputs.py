"""The output-safety rule: planned outputs never resolve to an input, failed runs leave nothing behind."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from analogist.errors import InputError, OutputError
from analogist.outputs import OutputPlan


def _image(path, value=7):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 5, 3), value, np.uint8)).save(path)
    return path


def test_folder_output_named_like_an_input_is_refused(tmp_path):
    src = _image(tmp_path / "out" / "result.png")
    before = src.read_bytes()
    with pytest.raises(InputError, match="never overwritten"):
        OutputPlan.folder(tmp_path / "out", ["result.png", "report.json"], [src])
    assert src.read_bytes() == before


def test_nested_output_and_links_are_followed(tmp_path):
    src = _image(tmp_path / "data" / "a.png")
    (tmp_path / "out" / "frames").mkdir(parents=True)
    os.symlink(src, tmp_path / "out" / "frames" / "frame_000.png")
    with pytest.raises(InputError):
        OutputPlan.folder(tmp_path / "out", ["frames/frame_000.png"], [src])
    os.link(src, tmp_path / "out" / "hard.png")
    with pytest.raises(InputError):
        OutputPlan.folder(tmp_path / "out", ["hard.png"], [src])
    # the input named through a symlinked folder is the same file
    os.symlink(tmp_path / "data", tmp_path / "alias")
    with pytest.raises(InputError):
        OutputPlan.file(tmp_path / "alias" / "a.png", [src])
    assert OutputPlan.file(tmp_path / "alias" / "b.png", [src]).paths == [tmp_path / "alias" / "b.png"]


def test_existing_file_inside_an_input_folder_is_refused(tmp_path):
    _image(tmp_path / "dataset" / "pair" / "image1.png")
    with pytest.raises(InputError):
        OutputPlan.file(tmp_path / "dataset" / "pair" / "image1.png", [tmp_path / "dataset"])
    assert OutputPlan.file(tmp_path / "dataset" / "results.json", [tmp_path / "dataset"])


def test_folder_and_file_kinds_are_checked(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        OutputPlan.folder(tmp_path / "f", ["a.png"])
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        OutputPlan.file(tmp_path / "d")
    with pytest.raises(InputError, match="longer than"):
        OutputPlan.file(tmp_path / ("x" * 300 + ".png"))


def test_plan_creates_nothing_until_entered_and_cleans_up_on_failure(tmp_path):
    plan = OutputPlan.folder(tmp_path / "new" / "out", ["a.png", "sub/b.png", "c.txt"])
    assert not (tmp_path / "new").exists()
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc):
            with plan:
                plan.save_image("a.png", np.zeros((4, 4, 3), np.uint8))
                plan.save_image("sub/b.png", np.zeros((4, 4, 3), np.uint8))
                raise exc()
        assert not (tmp_path / "new").exists()
    with plan:
        plan.save_image("a.png", np.zeros((4, 4, 3), np.uint8))
        plan.save_text("c.txt", "ok")
    assert sorted(p.name for p in (tmp_path / "new" / "out").iterdir()) == ["a.png", "c.txt"]


def test_cleanup_keeps_files_that_were_there_before(tmp_path):
    out = tmp_path / "out"
    keep = _image(out / "mine.png")
    plan = OutputPlan.folder(out, ["a.png"])
    with pytest.raises(RuntimeError):
        with plan:
            plan.save_image("a.png", np.zeros((4, 4, 3), np.uint8))
            raise RuntimeError
    assert sorted(p.name for p in out.iterdir()) == ["mine.png"] and keep.exists()


def test_unplanned_names_are_a_bug(tmp_path):
    plan = OutputPlan.folder(tmp_path, ["a.png"])
    with plan, pytest.raises(KeyError):
        plan.save_image("b.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError):
        OutputPlan.folder(tmp_path, ["../escape.png"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_an_output_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputError):
            OutputPlan.folder(ro / "out", ["a.png"])
    finally:
        ro.chmod(0o700)


def test_impossible_location_is_a_one_line_error(tmp_path):
    with pytest.raises((OutputError, InputError)):
        plan = OutputPlan.folder("/proc/analogist-test", ["a.png"])
        with plan:
            plan.save_image("a.png", np.zeros((4, 4, 3), np.uint8))
