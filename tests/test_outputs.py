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


def _hashes(folder, staged=True):
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and (staged or ".analogist-" not in str(p)))
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def test_an_existing_output_is_replaced_only_by_a_complete_new_one(tmp_path):
    out = tmp_path / "out"
    _image(out / "a.png", 1)
    (out / "report.json").write_text("earlier")
    before = _hashes(out)
    plan = OutputPlan.folder(out, ["a.png", "report.json"])
    for exc in (RuntimeError, KeyboardInterrupt, OSError):
        with pytest.raises(exc), plan:
            plan.save_image("a.png", np.zeros((4, 4, 3), np.uint8))
            assert _hashes(out, staged=False) == before  # staged, not yet in place
            raise exc()
        assert _hashes(out) == before
    with plan:
        plan.save_image("a.png", np.zeros((4, 4, 3), np.uint8))
        plan.write_json("report.json", {"new": True})
    after = _hashes(out)
    assert set(after) == {"a.png", "report.json"} and after["report.json"] != before["report.json"]


def test_a_refused_image_name_touches_nothing(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(InputError, match="extension"):
        OutputPlan.file(notes, image=True)
    assert notes.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_shorter_series_replaces_the_earlier_one_whole(tmp_path):
    out = tmp_path / "out"
    for i in range(5):
        _image(out / "frames" / f"frame_{i:03d}.png", i)
    _image(out / "frames" / "mine.png")
    (out / "morph.mp4").write_text("earlier")
    names = [f"frames/frame_{i:03d}.png" for i in range(2)] + ["morph.gif"]
    plan = OutputPlan.folder(out, names, replaces=["frames/frame_*.png", "morph.gif", "morph.mp4"])
    with pytest.raises(KeyboardInterrupt), plan:
        plan.save_image(names[0], np.zeros((4, 4, 3), np.uint8))
        raise KeyboardInterrupt
    assert len(list((out / "frames").glob("frame_*.png"))) == 5 and (out / "morph.mp4").exists()
    with plan:
        for name in names[:2]:
            plan.save_image(name, np.zeros((4, 4, 3), np.uint8))
        plan.save_animation("morph.gif", [np.zeros((4, 4, 3), np.uint8)] * 2)
    assert sorted(_hashes(out)) == ["frames/frame_000.png", "frames/frame_001.png", "frames/mine.png", "morph.gif"]


def test_of_two_writers_the_finished_one_stays(tmp_path):
    target = tmp_path / "o.png"
    first, second = OutputPlan.file(target, image=True), OutputPlan.file(target, image=True)
    with pytest.raises(KeyboardInterrupt), first:
        first.save_image(None, np.zeros((4, 4, 3), np.uint8))
        with second:
            second.save_image(None, np.full((4, 4, 3), 200, np.uint8))
        raise KeyboardInterrupt
    assert np.asarray(Image.open(target)).min() == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]  # no staging folder of either is left


def test_sigterm_is_cleaned_up_like_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys

    target = tmp_path / "o.png"
    target.write_bytes(b"earlier")
    script = (
        "import os, signal, time, numpy as np\n"
        "from analogist.cli import _sigterm_as_exception\n"
        "from analogist.outputs import OutputPlan\n"
        f"plan = OutputPlan.file({str(target)!r}, image=True)\n"
        "with _sigterm_as_exception(), plan:\n"
        "    plan.save_image(None, np.zeros((4, 4, 3), np.uint8))\n"
        "    print('staged', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "staged"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 and target.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]
