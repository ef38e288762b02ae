"""How well ``analogist align``'s global map lines up two faces: landmark error after the fit.

Runs the command's own path (``apps.pair_search.search_drivers``, then the global map of
``apps.align``) at its defaults (448 px images, 224 px search, k = 15) on the face pairs of
``../shared/data/faces-dev/pairs.csv`` (68 landmarks each), maps A's landmarks through the fitted map
into B and measures their distance to B's landmarks over the longer side of B's landmark box:
PCK@0.1, PCK@0.05, the median, and the share of pairs whose median is under 0.1 ("pairs ok"). The
``zoomed`` variant crops B to a square of half its side around the face, shifted off-centre, so the
face is twice as large in B as in A (the gallery's zoomed face pairs). ``oracle`` is the best
similarity through the landmarks themselves (what no global map can beat).

    python benchmarks/align_faces.py --pairs 0:30              # where changes are chosen
    python benchmarks/align_faces.py --pairs 30:60             # where they are confirmed
    python benchmarks/align_faces.py --pairs 0:30 --backbone vgg16-hed --scales 1   # before issue 24
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from analogist.apps.align import _plan
from analogist.apps.pair_fit import FitParams, _lsq
from analogist.apps.pair_search import driving_pairs, scaled_searches
from analogist.io import load_image
from analogist.methods.buddies import BuddiesParams

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces-dev"
SIZE = 448  # analogist align's default --size


def landmarks(row: dict, side: str) -> np.ndarray:
    """``(68, 2)`` x, y of one image's landmarks (nan where missing)."""
    return np.stack([np.array([float(v) for v in row[c + side].split(";")]) for c in "XY"], 1)


def zoom_box(lm: np.ndarray, w: int, h: int, seed: int) -> tuple[float, float, float]:
    """``(x0, y0, side)``: a square of half the frame around the face, off-centre by up to 15 %."""
    side = 0.5 * min(w, h)
    c = np.nanmean(lm, 0) + np.random.default_rng(seed).uniform(-0.15, 0.15, 2) * side
    return float(np.clip(c[0] - side / 2, 0, w - side)), float(np.clip(c[1] - side / 2, 0, h - side)), side


def load_pair(row: dict, i: int, zoomed: bool):
    """Both images as ``analogist align`` loads them, and the landmarks in their pixels."""
    a = load_image(DATA / row["source_image"], SIZE)
    im_a = Image.open(DATA / row["source_image"])
    la = (landmarks(row, "A") + 0.5) * a.shape[-1] / im_a.size[0] - 0.5
    im_b = Image.open(DATA / row["target_image"]).convert("RGB")
    lb = landmarks(row, "B")
    if zoomed:
        x0, y0, side = zoom_box(lb, *im_b.size, i)
        im_b = im_b.resize((SIZE, SIZE), Image.BICUBIC, box=(x0, y0, x0 + side, y0 + side))
        b = torch.from_numpy(np.asarray(im_b, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        lb = (lb - [x0, y0]) * SIZE / side
    else:
        b = load_image(DATA / row["target_image"], SIZE)
        lb = (lb + 0.5) * b.shape[-1] / im_b.size[0] - 0.5
    return a, b, la, lb


def errors(m: np.ndarray, la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """Each landmark's error after the map ``m`` (A -> B), over the longer side of B's landmark box."""
    ok = np.isfinite(la).all(1) & np.isfinite(lb).all(1)
    moved = la[ok] @ m[:2, :2].T + m[:2, 2]
    return np.linalg.norm(moved - lb[ok], axis=1) / float((lb[ok].max(0) - lb[ok].min(0)).max())


def summary(errs: list[np.ndarray]) -> str:
    e = np.concatenate(errs)
    ok = np.mean([np.median(x) < 0.1 for x in errs])
    return f"PCK@0.1 {np.mean(e < 0.1):.3f}  PCK@0.05 {np.mean(e < 0.05):.3f}  median {np.median(e):.3f}  pairs ok {ok:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", default="0:30", help="start:stop rows of pairs.csv (default 0:30)")
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--scales", default="1,0.5,2", help="B's search size over A's, comma-separated")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lo, hi = (int(v) for v in args.pairs.split(":"))
    rows = list(csv.DictReader(open(DATA / "pairs.csv", newline="")))[lo:hi]
    scales = tuple(float(s) for s in args.scales.split(","))
    params = BuddiesParams(k=15, backbone=args.backbone)
    for zoomed in (False, True):
        fit, oracle, t0 = [], [], time.perf_counter()
        for i, row in enumerate(rows, lo):
            a, b, la, lb = load_pair(row, i, zoomed)
            drivers = driving_pairs(a, b, scaled_searches(a, b, params, scales), 15, params)[0]
            fit.append(errors(_plan(drivers, tuple(b.shape[-2:]), FitParams())[0].numpy(), la, lb))
            ok = np.isfinite(la).all(1) & np.isfinite(lb).all(1)
            oracle.append(errors(_lsq(la[ok], lb[ok], np.ones(int(ok.sum())), "similarity"), la, lb))
        name = "zoomed" if zoomed else "normal"
        sec = (time.perf_counter() - t0) / len(rows)
        print(f"{name:7s} pairs {lo}-{hi - 1}  fit:    {summary(fit)}  ({sec:.1f} s a pair)")
        print(f"{name:7s} pairs {lo}-{hi - 1}  oracle: {summary(oracle)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
