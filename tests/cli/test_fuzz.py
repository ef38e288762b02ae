"""Reliability: every command against the hand-made bad and odd inputs, and property-based fuzzing.

Each run must end with the expected exit status, a one-line ``error:`` on failure and no traceback,
leave every pre-existing file unchanged (inputs are never overwritten) and, when it fails, leave
nothing behind. ``benchmarks/fuzz.py`` runs the same cases plus 1,000 randomly corrupted files.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from fuzz_cases import all_cases, interrupt_cases, photo, run_checked, workspace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from analogist.errors import InputError
from analogist.io import MAX_PIXELS, load_image, read_image_array


@pytest.mark.parametrize("case", [c for c in all_cases() if "Ctrl-C" not in c.name], ids=lambda c: c.name)
def test_targeted_case(case, tmp_path):
    _, problems = case.problems(tmp_path)
    assert not problems, problems


@pytest.mark.slow
@pytest.mark.parametrize("case", interrupt_cases(), ids=lambda c: c.name)
def test_ctrl_c_while_writing_leaves_nothing(case, tmp_path):
    out, problems = case.problems(tmp_path)
    assert out.code == 130 and not problems, problems
    assert not (tmp_path / "out").exists()


def _png_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo(12, 14, seed)).save(buf, format="PNG")
    return buf.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=600), keep=st.integers(0, 80), fmt=st.sampled_from(["PNG", "JPEG", "GIF", "TIFF", "BMP"])
)
def test_any_bytes_load_or_refuse_in_one_line(tmp_path, data, keep, fmt):
    buf = io.BytesIO()
    Image.fromarray(photo(12, 14)).save(buf, format=fmt)
    path = tmp_path / f"f.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[:keep] + data)  # a real header followed by anything
    try:
        arr = read_image_array(path)
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert arr.dtype == np.float32 and arr.ndim == 3 and arr.shape[2] == 3
    assert np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.one_of(st.integers(-10, 10_000).map(str), st.text(max_size=6)),
    layer=st.one_of(st.none(), st.sampled_from(["relu1_1", "conv9_9", "", "stage4"])),
    out_name=st.sampled_from(["o.png", "o.jpg", "o.xyz", "a.png", "bad/o.png", "notes.txt/o.png", "o"]),
)
def test_cli_arguments_never_traceback_or_touch_inputs(tmp_path_factory, size, layer, out_name):
    root = tmp_path_factory.mktemp("ws")
    files = workspace(root)
    # the fast backbone: a --size up to 4096 is valid, and VGG16 at 4096 px would take a minute an example
    argv = ["features", str(files["a"]), "-o", str(root / out_name), "--size", size, "--backbone", "efficientnet-lite0"]
    if layer is not None:
        argv += ["--layer", layer]
    out = run_checked(argv, root)
    assert out.traceback is None, out.traceback
    assert out.code in (0, 1, 2)
    assert not out.modified, out.modified
    if out.code != 0:
        assert out.first_line.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert not out.leftovers, out.leftovers


@pytest.mark.slow
def test_images_up_to_the_limit_are_accepted_and_larger_refused_with_the_limit(tmp_path):
    # 100 MP is over Pillow's own bomb threshold (89 MP) but under analogist's documented 120 MP
    ok = tmp_path / "big.png"
    Image.new("L", (10_000, 10_000), 128).save(ok)
    image = load_image(ok, 64)
    assert image.shape == (1, 3, 64, 64) and torch.allclose(image, torch.full_like(image, 128 / 255), atol=1e-3)
    too_big = tmp_path / "huge.png"
    Image.new("1", (11_000, 11_000)).save(too_big)  # 121 MP, one bit per pixel: cheap to write
    with pytest.raises(InputError, match=f"{MAX_PIXELS // 1_000_000} megapixels"):
        load_image(too_big)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc to see the imports happen")
def test_ctrl_c_during_imports_is_a_clean_exit(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "analogist", "info"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    # interrupt once torch's library is being mapped, i.e. inside the imports, however slow the machine
    maps = f"/proc/{proc.pid}/maps"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with open(maps) as fh:
                if "libtorch" in fh.read():
                    break
        except OSError:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the imports finished before the signal arrived")
    assert proc.returncode == 130 and "Traceback" not in err, err


def test_eval_prints_no_pillow_warning_for_a_large_image(tmp_path):
    from fuzz_cases import pairs_file

    # a valid header of 100 MP: over Pillow's warning threshold (89 MP), under analogist's 120 MP limit
    csv_path = pairs_file(tmp_path, ["s.png,t.png,1,1;5;9,1;5;9,2;6;9,2;6;9", "big.png,t.png,1,1,1,1,1"])
    from fuzz_cases import png_header

    (tmp_path / "big.png").write_bytes(png_header(10_000, 10_000))
    for quiet in ([], ["-q"]):
        done = subprocess.run(
            [sys.executable, "-m", "analogist", *quiet, "eval", "--dataset", "pairs-csv", str(csv_path)]
            + ["--method", "nn", "--size", "32"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
