"""Conventions every command shares: -q/-v on either side of the command, what -o names, the backbones
offered, one-line descriptions, the exit statuses, and outputs refused in a place that cannot be written.

Ctrl-C (130) and bad inputs (2) for each command are in tests/cli/test_fuzz.py; a failed batch job (1) in
tests/batch/test_batch.py.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest
from cli_helpers import run_cli
from fuzz_cases import pairs_file, photo, run_checked, workspace
from PIL import Image

from analogist.cli import build_parser
from analogist.errors import InputError
from analogist.features import BACKBONES, get_backbone
from analogist.methods.analogy import AnalogyParams


def _parsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser by its full name (``train nnst-d``), nested ones included."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(_parsers(sub, f"{prefix}{name} "))
    return found


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


PARSERS = _parsers(build_parser())


def test_every_command_has_a_one_line_description():
    def listed(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                yield from ((c.dest, c.help) for c in action._choices_actions)

    pairs = list(listed(build_parser())) + [p for sub in PARSERS.values() for p in listed(sub)]
    assert {name for name, _ in pairs} >= {"analogy", "stylize", "video", "web", "nnst-d", "samnet"}
    for name, text in pairs:
        assert text and "\n" not in text and len(text) <= 90, (name, text)


def test_output_option_names_a_folder_or_a_file():
    seen = 0
    for name, parser in PARSERS.items():
        for flag in ("-o", "--json"):
            action = _option(parser, flag)
            if action is None:
                continue
            seen += 1
            if action.metavar == "OUTDIR":
                assert "folder" in action.help, (name, action.help)
            else:  # a single file: the metavar shows its kind, the help its extensions
                match = re.fullmatch(r"OUT\.(\w+)", action.metavar or "")
                assert match and f".{match[1]}" in action.help + " .json", (name, flag, action.metavar, action.help)
    assert seen >= 12


def test_analogy_and_timelapse_offer_only_backbones_they_can_use():
    for name in ("analogy", "timelapse"):
        offered = _option(PARSERS[name], "--backbone").choices
        assert offered and set(offered) < set(BACKBONES) and "vgg16-hed" in offered, offered
        assert all(b.startswith("vgg") for b in offered), offered
    # what is left out really cannot run DIA: no relu5_1 ... relu1_1 to match and deconvolve
    with pytest.raises(InputError):
        get_backbone("efficientnet-lite0").check_layers(list(AnalogyParams().layers))
    get_backbone("vgg16-hed").check_layers(list(AnalogyParams().layers))
    for name in ("buddies", "align", "hybrid", "morph"):
        assert not [b for b in _option(PARSERS[name], "--backbone").choices if b.startswith("dinov2")]


def test_help_documents_the_exit_statuses(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for status in ("0 ", "1 ", "2 ", "130 "):
        assert re.search(rf"^\s+{status}", out, re.M), out


@pytest.fixture
def noisy_eval(tmp_path):
    """An eval run that prints a note (one pair skipped) and a progress stage."""
    good = "s.png,t.png,1,1;5;9,1;5;9,2;6;9,2;6;9"
    csv = pairs_file(tmp_path, [good, "bomb.png,t.png,1,1,1,1,1"])
    return ["eval", "--dataset", "pairs-csv", str(csv), "--method", "nn", "--size", "32"]


def test_quiet_and_verbose_work_before_or_after_the_command(noisy_eval, capsys):
    code, table, err = run_cli(capsys, *noisy_eval)
    assert code == 0 and err.startswith("note: skipped bomb") and "pck@0.1" in table
    for argv in (["-q", *noisy_eval], [*noisy_eval, "-q"], [*noisy_eval, "--quiet"]):
        code, out, err = run_cli(capsys, *argv)
        # the table's first line holds the run's timings and memory; the rest is the same
        assert code == 0 and err == "" and out.splitlines()[1:] == table.splitlines()[1:], argv
    for argv in (["-v", *noisy_eval], [*noisy_eval, "--verbose"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0 and "note: skipped bomb" in err, argv
        assert re.search(r"^note: .+: 2 step\(s\) in [\d.]+ s$", err, re.M), err  # the stage
        assert re.search(r"^note: eval: [\d.]+ s in all, peak memory \d+ MB$", err, re.M), err  # the run
    for argv in (["-q", "-v", *noisy_eval], ["-q", *noisy_eval, "-v"], [*noisy_eval, "-v", "-q"]):
        code, out, err = run_cli(capsys, *argv)
        assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1 and out == "", argv


def test_quiet_demo_prints_nothing(tmp_path, capsys):
    code, out, err = run_cli(capsys, "demo", "--only", "features", "-o", str(tmp_path / "d"), "-q")
    assert code == 0 and out == "" and err == ""
    assert len(list((tmp_path / "d" / "features").iterdir())) == 4


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")])
def test_out_of_memory_is_exit_1_in_one_line_with_nothing_left(tmp_path, capsys, monkeypatch, error):
    import analogist.cli.features as features

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(features, "pca_rgb", fail)
    a = workspace(tmp_path)["a"]
    code, _, err = run_cli(capsys, "features", str(a), "-o", str(tmp_path / "new" / "f.png"), "--size", "32")
    assert code == 1 and err == "error: out of memory: try a smaller --size\n"
    assert not (tmp_path / "new").exists()


# ----------------------------------------------------------------------- unwritable output places


def _commands(root: Path, out_dir: str, out_file: str) -> dict[str, list[str]]:
    """Each command that writes, with small valid inputs and ``out_dir``/``out_file`` as its output."""
    files = workspace(root)
    a, b = str(files["a"]), str(files["b"])
    images = root / "images"
    images.mkdir(exist_ok=True)
    for i in range(2):
        Image.fromarray(photo(40, 48, seed=i)).save(images / f"i{i}.png")
    (root / "jobs.csv").write_text(f"method,a,b\nanalogy,{a},{b}\n")
    csv = pairs_file(root, ["s.png,t.png,1,1;5;9,1;5;9,2;6;9,2;6;9"])
    small = ["--size", "32"]
    cmds = {cmd: [cmd, a, b, "-o", out_dir, *small] for cmd in ("analogy", "buddies", "align", "hybrid", "morph")}
    cmds |= {cmd: [cmd, a, b, "-o", out_dir, *small] for cmd in ("timelapse", "samnet", "appearance")}
    cmds["features"] = ["features", a, "-o", out_file + ".png", *small]
    cmds["stylize"] = ["stylize", a, b, "-o", out_file + ".png", *small]
    cmds["batch"] = ["batch", str(root / "jobs.csv"), "-o", out_dir]
    cmds["eval"] = ["eval", "--dataset", "pairs-csv", str(csv), "--method", "nn", *small, "--json", out_file + ".json"]
    cmds["demo"] = ["demo", "--only", "features", "-o", out_dir]
    cmds["train"] = ["train", "nnst-d", "--content", str(images), "--style", str(images), "--out", out_file + ".pt"]
    cmds["web"] = ["web", "--work-dir", out_dir, "--port", "1"]
    try:
        import imageio.v2 as iio

        writer = iio.get_writer(str(root / "clip.mp4"), fps=4, macro_block_size=1, ffmpeg_log_level="quiet")
        for seed in range(2):
            writer.append_data(photo(32, 32, seed))
        writer.close()
        cmds["video"] = ["video", str(root / "clip.mp4"), b, "-o", out_file + ".mp4", *small]
    except Exception:  # noqa: BLE001  (no ffmpeg: the video extra is absent)
        pass
    return cmds


PLACES = ("missing folder in /proc", "read-only folder")


@pytest.mark.parametrize("place", PLACES)
def test_no_command_writes_where_it_cannot(tmp_path, place):
    if place == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        base = tmp_path / "ro"
        base.mkdir()
        base.chmod(0o500)
    else:
        base = Path("/proc/analogist-test")  # not even root can create anything there
    root = tmp_path / "ws"
    try:
        cmds = _commands(root, str(base / "new" / "out"), str(base / "new" / "o"))
        assert len(cmds) >= 15
        for name, argv in cmds.items():
            out = run_checked(argv, root)
            lines = out.stderr.strip().splitlines()
            assert out.traceback is None, (name, out.traceback)
            assert out.code == 1 and len(lines) == 1 and lines[0].startswith("error: cannot "), (name, out)
            assert not out.leftovers and not out.modified, (name, out)
            if base.parent == tmp_path:
                assert not list(base.iterdir()), name
    finally:
        if base.parent == tmp_path:
            base.chmod(0o700)


def test_timed_progress_reports_each_stage_even_when_it_stops_early():
    from analogist.progress import silent, timed

    lines: list[str] = []

    class Bar(list):
        def set_postfix(self, *args, **kwargs):
            lines.append("postfix")

    progress = timed(lambda it, total=None, desc=None: Bar(it), lines.append)
    bar = progress(range(3), total=3, desc="stage one")
    bar.set_postfix({"loss": 1})  # the bar's own methods stay reachable (the training loop uses them)
    assert list(bar) == [0, 1, 2]
    for _ in timed(silent, lines.append)(range(5), desc="stage two"):
        break
    assert lines[0] == "postfix"
    assert re.fullmatch(r"stage one: 3 step\(s\) in [\d.]+ s", lines[1]), lines
    assert re.fullmatch(r"stage two: 1 step\(s\) in [\d.]+ s", lines[2]), lines
