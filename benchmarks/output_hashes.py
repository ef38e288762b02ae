"""Hashes of every method's outputs on the bundled examples: proof that a refactor changed no output.

Runs the demo and one command per method and variant (each with small sizes, as a user runs it)
from the source tree given by ``--src`` (default: this checkout), with the kernel choices pinned
(``--precision fp32``, or the rates of a ``kernels.json`` copied into a private cache), and writes
``{output: sha256}`` for every file written; images are hashed by their decoded pixels, other files
by their bytes, json reports without their measured fields (times, memory). ``--compare`` prints what differs.

    python benchmarks/output_hashes.py --out /tmp/before.json --src /tmp/base/src
    python benchmarks/output_hashes.py --out /tmp/after.json --compare /tmp/before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "src" / "analogist" / "data" / "examples"
IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
#: files whose content is a measurement of time or of the machine, not an output of the method
SKIP = ("timing", "times", "log")


def commands(ex: Path, clip: Path) -> dict[str, list[str]]:
    cat, painting, astro, swirls = (str(ex / n) for n in ("cat.jpg", "cat_painting.jpg", "astronaut.jpg", "swirls.jpg"))
    return {
        "demo": ["demo", "-o", "{out}"],
        "analogy": ["analogy", cat, painting, "-o", "{out}", "--size", "96"],
        "timelapse": ["timelapse", cat, painting, astro, "-o", "{out}", "--size", "64"],
        "buddies": ["buddies", cat, painting, "-o", "{out}", "--size", "128"],
        "align": ["align", cat, painting, "-o", "{out}", "--size", "128"],
        "hybrid": ["hybrid", cat, painting, "-o", "{out}", "--size", "128"],
        "morph": ["morph", cat, painting, "-o", "{out}", "--size", "96", "--frames", "4", "--no-mp4"],
        "stylize-fast": ["stylize", astro, swirls, "-o", "{out}/s.png", "--size", "128", "--preset", "fast"],
        "stylize-decoder": ["stylize", astro, swirls, "-o", "{out}/s.png", "--size", "256", "--preset", "decoder"],
        "appearance-free": ["appearance", cat, painting, "-o", "{out}", "--size", "128"],
        "appearance-learned": ["appearance", cat, painting, "-o", "{out}", "--size", "128", "--form", "learned"],
        "samnet-free": ["samnet", cat, painting, "-o", "{out}", "--size", "128", "--form", "training-free"],
        "samnet-learned": ["samnet", cat, painting, "-o", "{out}", "--size", "128", "--form", "learned"],
        "video": ["video", str(clip), swirls, "-o", "{out}/v.mp4", "--size", "64", "--frames-dir", "{out}/frames"],
        "features": ["features", cat, "-o", "{out}/f.png", "--size", "96"],
    }


def make_clip(folder: Path) -> Path:
    """Six frames of the bundled rocket, panned two pixels per frame (no video codec needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    img = np.asarray(Image.open(EXAMPLES / "rocket.jpg").convert("RGB").resize((96, 72)))
    for i in range(6):
        Image.fromarray(np.roll(img, 2 * i, axis=1)).save(folder / f"frame_{i:03d}.png")
    return folder


#: fields of a json report that measure the run (time, memory), not the method's output
MEASURED = ("seconds", "rss", "memory", "time", "timings", "threads", "workers")


def _without_measurements(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_measurements(v) for k, v in value.items() if not any(m in k for m in MEASURED)}
    if isinstance(value, list):
        return [_without_measurements(v) for v in value]
    return value


def file_hash(path: Path) -> str:
    if path.suffix == ".json":
        data = _without_measurements(json.loads(path.read_text()))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    if path.suffix == ".txt":  # eval's table: its header line carries the time per pair and the memory
        lines = [ln for ln in path.read_text().splitlines() if "s/pair" not in ln]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
    if path.suffix.lower() in IMAGES:
        with Image.open(path) as im:
            frames = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                frames.append(np.asarray(im.convert("RGB")).tobytes())
        return hashlib.sha256(b"".join(frames)).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(src: Path, out: Path, env: dict[str, str], only: list[str]) -> dict[str, str]:
    clip = make_clip(out / "_clip")
    hashes: dict[str, str] = {}
    for name, argv in commands(EXAMPLES, clip).items():
        if only and name not in only:
            continue
        dest = out / name
        argv = [a.replace("{out}", str(dest)) for a in argv]
        proc = subprocess.run([sys.executable, "-m", "analogist", "-q", *argv], env=env, capture_output=True, text=True)
        hashes[f"{name}/exit"] = str(proc.returncode)
        if proc.returncode:
            print(f"{name}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        files = sorted(p for p in dest.rglob("*") if p.is_file()) if dest.exists() else []
        for p in files:
            rel = str(p.relative_to(out))
            if any(s in p.name for s in SKIP) or p.suffix == ".mp4":
                continue  # an mp4's bytes carry the encoder's metadata; its frames are hashed via --frames-dir
            hashes[rel] = file_hash(p)
        print(f"{name}: {len(files)} files", file=sys.stderr)
    return hashes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="json file of hashes to write")
    ap.add_argument("--src", type=Path, default=HERE.parent / "src", help="source tree to run")
    ap.add_argument("--precision", default="fp32", help="ANALOGIST_PRECISION, or 'cached' for --kernels")
    ap.add_argument("--kernels", type=Path, default=Path.home() / ".cache" / "analogist" / "kernels.json")
    ap.add_argument("--only", default="", help="comma-separated command names")
    ap.add_argument("--compare", type=Path, help="earlier json: print the outputs that differ")
    ap.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="analogist-hashes-"))
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve()), "ANALOGIST_CACHE_DIR": str(work / "cache")}
    (work / "cache").mkdir()
    if args.precision == "cached":
        shutil.copy(args.kernels, work / "cache" / "kernels.json")
    else:
        env["ANALOGIST_PRECISION"] = args.precision
    try:
        hashes = run(args.src, work / "runs", env, [s for s in args.only.split(",") if s])
        if args.keep:
            shutil.copytree(work / "runs", args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(hashes, indent=1, sort_keys=True))
    print(f"{len(hashes)} entries -> {args.out}")
    if args.compare:
        before = json.loads(args.compare.read_text())
        names = sorted(set(before) | set(hashes))
        differ = [n for n in names if before.get(n) != hashes.get(n)]
        for n in differ:
            print(
                f"differs: {n} ({'missing before' if n not in before else 'missing now' if n not in hashes else 'content'})"
            )
        print(f"{len(names) - len(differ)} of {len(names)} identical")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
