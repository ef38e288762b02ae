"""Reliability figures: every command against bad and odd inputs, and randomly corrupted image files.

Prints the counts the reliability goal is stated in: runs, tracebacks, inputs modified, leftovers
(files or folders a failed run left behind), valid images refused, and every failing case by name.

    python benchmarks/fuzz.py                  # all targeted cases + 1000 random files
    python benchmarks/fuzz.py --random 200     # fewer random files
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fuzz_cases import Case, all_cases, photo, run_checked  # noqa: E402


def corrupt(data: bytes, rng: np.random.Generator) -> bytes:
    """One random corruption: flipped bytes, a cut, a repeated or removed block, or inserted garbage."""
    buf = bytearray(data)
    kind = rng.integers(0, 5)
    if kind == 0:
        for i in rng.integers(0, len(buf), rng.integers(1, 20)):
            buf[i] = int(rng.integers(0, 256))
    elif kind == 1:
        buf = buf[: int(rng.integers(1, len(buf)))]
    elif kind == 2:
        i, n = int(rng.integers(0, len(buf))), int(rng.integers(1, 200))
        buf[i:i] = buf[i : i + n]
    elif kind == 3:
        i, n = int(rng.integers(0, len(buf))), int(rng.integers(1, 200))
        del buf[i : i + n]
    else:
        i = int(rng.integers(0, len(buf)))
        buf[i:i] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    return bytes(buf)


def decodes(path: Path) -> bool:
    """Whether Pillow itself decodes the file completely (the reference for "a valid image")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.size[0] * im.size[1] > 120_000_000 or 0 in im.size:
                    return False
                im.load()
        return True
    except Exception:  # noqa: BLE001
        return False


def random_files(n: int, root: Path, seed: int = 0) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    originals = {}
    for fmt, ext in (
        ("PNG", "png"),
        ("JPEG", "jpg"),
        ("GIF", "gif"),
        ("TIFF", "tif"),
        ("WEBP", "webp"),
        ("BMP", "bmp"),
    ):
        buf = io.BytesIO()
        Image.fromarray(photo(seed=len(originals))).save(buf, format=fmt)
        originals[ext] = buf.getvalue()
    counts = {"runs": 0, "tracebacks": 0, "modified": 0, "leftovers": 0, "valid refused": 0, "refused": 0}
    exts = list(originals)
    for i in range(n):
        case_dir = root / f"r{i}"
        case_dir.mkdir()
        ext = exts[i % len(exts)]
        path = case_dir / f"corrupt.{ext}"
        path.write_bytes(corrupt(originals[ext], rng))
        out = run_checked(["features", str(path), "-o", str(case_dir / "out" / "f.png"), "--size", "32"], case_dir)
        counts["runs"] += 1
        counts["tracebacks"] += out.traceback is not None
        counts["modified"] += bool(out.modified)
        counts["leftovers"] += bool(out.leftovers)
        if out.code != 0:
            counts["refused"] += 1
            if decodes(path):
                counts["valid refused"] += 1
                print(f"  valid image refused: {path.name} #{i}: {out.first_line}")
            elif not out.first_line.startswith("error: "):
                print(f"  no one-line error for #{i}: {out.stderr.strip()[:200]!r}")
        if out.traceback:
            print(f"  traceback on random file #{i} ({ext}): {out.traceback.strip().splitlines()[-1]}")
        shutil.rmtree(case_dir)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random", type=int, default=1000, help="randomly corrupted files (default 1000)")
    args = ap.parse_args()
    start = time.perf_counter()
    cases: list[Case] = all_cases()
    totals = {"runs": 0, "tracebacks": 0, "modified": 0, "leftovers": 0, "valid refused": 0, "failed checks": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            root = Path(tmp) / f"c{i}"
            root.mkdir()  # some cases build no workspace (e.g. `web --work-dir /proc/...`) but run inside one
            out, problems = case.problems(root)
            totals["runs"] += 1
            totals["tracebacks"] += out.traceback is not None
            # a concurrent-writer case expects the finished writer's new output; its `verify` checks it by hash
            totals["modified"] += bool(out.modified) and case.verify is None
            totals["leftovers"] += bool(out.leftovers) and case.verify is None
            totals["valid refused"] += case.expect == (0,) and out.code != 0
            if problems:
                totals["failed checks"] += 1
                print(f"  FAIL {case.name}: {'; '.join(problems)}")
            shutil.rmtree(root, ignore_errors=True)
        print(f"targeted CLI runs: {totals}  ({time.perf_counter() - start:.0f} s)")
        rstart = time.perf_counter()
        counts = random_files(args.random, Path(tmp))
        print(f"random corrupted files: {counts}  ({time.perf_counter() - rstart:.0f} s)")
    bad = (
        totals["tracebacks"]
        + totals["modified"]
        + totals["leftovers"]
        + totals["valid refused"]
        + totals["failed checks"]
        + counts["tracebacks"]
        + counts["modified"]
        + counts["leftovers"]
        + counts["valid refused"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
