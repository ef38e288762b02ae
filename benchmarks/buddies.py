"""Neural Best-Buddies benchmark: time and peak memory per pair, PCK on the TSS sample.

    python benchmarks/buddies.py pairs [--sizes 224,448] [--kinds lion_cat,1photo2style,...] [--repeat 3]
    python benchmarks/buddies.py morph [--size 448] [--frames 25]
    python benchmarks/buddies.py tss   [--size 224] [--backbones vgg16-hed,efficientnet-lite0]

``pairs`` runs the lion/cat pair of the paper and the first pair of every other kind listed in
``../shared/data/demo-pairs/pairs.csv`` (``--kinds all`` for all 25), each configuration in a fresh
process so that the peak resident memory (ru_maxrss) is that configuration's; the time is the median
of ``--repeat`` runs of the whole hierarchy after the backbone is loaded, and the CPU time (all
threads; on a busy machine, CPU time / cores is a better estimate of the idle wall time).
``morph`` times the buddies search and a ``--frames``-frame morph of the lion/cat pair.
``tss`` transfers the sparse ``corr.txt`` matches of the TSS sample through the MLS field of the
best buddies (evaluated at the keypoints, as the paper does) and prints PCK@0.05 / 0.1 of the
target image's longer side, for each backbone and common appearance (``--common``: Eq. 4-6
``paper``, the authors' warp-and-deconvolve variant ``authors``, ``none``), and for three choices of driving pairs: the spread top k, k spread pairs thinned by
leave-one-out consistency (what ``align`` and ``morph`` use), and every pair.
Timings depend on what else runs on the machine: say so when quoting them.

Measured (2026-11-22 08:53-08:59 UTC, ``tss --backbones vgg16-hed``, 224 px, the 6 TSS sample
pairs, other jobs running: load average 2-6 on 2 cores, so times are inflated), PCK@0.05 / PCK@0.1
and the median search time per pair (whole hierarchy):

    common appearance              top-k          consistent-k   all pairs      s / pair
    paper (Eq. 4-6, the default)   0.542 / 0.720  0.668 / 0.800  0.596 / 0.739   4.3
    authors (warp + inversion)     0.434 / 0.687  0.562 / 0.733  0.503 / 0.738  34.7
    none                           0.341 / 0.571  0.571 / 0.699  0.481 / 0.633  10.6

(``none`` took longer than ``paper`` under the heavier load of its turn; it also keeps more pairs.)
The authors' variant (``deconv_iters=10`` L-BFGS iterations per level) beats no common appearance
but not the paper's Eq. 4-6, at about 8x the time: the four feature inversions through the VGG
blocks dominate. The paper's version stays the default.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from analogist.apps.align import select_pairs
from analogist.apps.morph import morph
from analogist.eval.metrics import image_threshold, pck
from analogist.eval.tss import load_tss_pair, tss_pairs
from analogist.features import get_backbone
from analogist.io import load_image
from analogist.matching.mls import mls_transform
from analogist.methods.buddies import BuddiesParams, neural_best_buddies

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(a_path: str, b_path: str, size: int, repeat: int, backbone: str) -> dict:
    """One configuration in this process: median time of the whole hierarchy and peak memory."""
    params = BuddiesParams(size=size, backbone=backbone)
    get_backbone(backbone)
    a, b = load_image(a_path), load_image(b_path)
    times, cpus, result = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = neural_best_buddies(a, b, params)
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return {
        "time": statistics.median(times),
        "cpu": statistics.median(cpus),
        "maxrss_mb": _maxrss_mb(),
        "pairs": int(result.points.shape[0]),
        "per_level": [int(lv.points.shape[0]) for lv in result.levels],
    }


def pairs(args: argparse.Namespace) -> None:
    rows = list(csv.DictReader(open(SHARED / "demo-pairs" / "pairs.csv")))
    if args.kinds != "all":
        wanted = args.kinds.split(",")
        seen: set[str] = set()
        chosen = []
        for r in rows:
            if r["kind"] in wanted and r["kind"] not in seen:
                chosen.append(r)
                seen.add(r["kind"])
        rows = chosen
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"{'pair':44s} {'size':>5s} {'time s':>8s} {'cpu s':>7s} {'peak MB':>8s} {'pairs':>6s}  per level (coarse to fine)"
    )
    for r in rows:
        for size in sizes:
            a, b = SHARED / "demo-pairs" / r["image_A"], SHARED / "demo-pairs" / r["image_B"]
            cmd = [
                sys.executable,
                __file__,
                "one",
                str(a),
                str(b),
                "--size",
                str(size),
                "--repeat",
                str(args.repeat),
                "--backbone",
                args.backbone,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            res = json.loads(out)
            name = f"{r['kind']}: {Path(r['image_A']).name} / {Path(r['image_B']).name}"
            print(
                f"{name:44s} {size:5d} {res['time']:8.2f} {res['cpu']:7.2f} {res['maxrss_mb']:8.0f} {res['pairs']:6d}  "
                f"{res['per_level']}",
                flush=True,
            )


def morph_bench(args: argparse.Namespace) -> None:
    a = load_image(SHARED / "demo-pairs" / "nbb" / "original_A.png", args.size)
    b = load_image(SHARED / "demo-pairs" / "nbb" / "original_B.png", args.size)
    get_backbone(args.backbone)
    t = time.perf_counter()
    result = neural_best_buddies(a, b, BuddiesParams(size=args.size, backbone=args.backbone))
    t_search = time.perf_counter() - t
    pts = result.points[select_pairs(result.points, result.ranks, 15)]
    t = time.perf_counter()
    frames = morph(a, b, pts, args.frames)
    t_morph = time.perf_counter() - t
    print(
        f"lion/cat at {args.size} px: buddies {t_search:.2f} s ({result.points.shape[0]} pairs), "
        f"morph of {len(frames)} frames {t_morph:.2f} s, peak {_maxrss_mb():.0f} MB"
    )


def _transfer(result, kp1: np.ndarray, how: str) -> np.ndarray:
    if how == "top-k":
        idx = result.top_k
    elif how == "consistent-k":
        idx = select_pairs(result.points, result.ranks, 20)
    else:  # every pair
        idx = torch.arange(result.points.shape[0])
    pts = result.points[idx]
    if pts.shape[0] < 3:
        return np.full_like(kp1, np.nan)
    return mls_transform(torch.from_numpy(kp1), pts[:, :2], pts[:, 2:], "affine").numpy()


def tss(args: argparse.Namespace) -> None:
    ways = ("top-k", "consistent-k", "all")
    data = [(p, load_tss_pair(p)) for p in tss_pairs(SHARED / "tss-sample")]
    for backbone in args.backbones.split(","):
        for common in args.common.split(","):
            params = BuddiesParams(size=args.size, backbone=backbone, common_appearance=common, k=20)
            get_backbone(backbone)
            scores = {w: {0.05: [], 0.1: []} for w in ways}
            t_all = []
            for _pair, d in data:
                if d.corr is None or len(d.corr) == 0:
                    continue
                t = time.perf_counter()
                result = neural_best_buddies(d.image1, d.image2, params)
                t_all.append(time.perf_counter() - t)
                kp1, kp2 = d.corr[:, :2], d.corr[:, 2:]
                for w in ways:
                    pred = _transfer(result, kp1, w)
                    for alpha in (0.05, 0.1):
                        scores[w][alpha].append(pck(pred, kp2, image_threshold(alpha, tuple(d.image2.shape[-2:]))))
            tag = f"{backbone:18s} common-appearance={common:7s}"
            for w in ways:
                print(
                    f"{tag} {w:15s} PCK@0.05 {np.nanmean(scores[w][0.05]):.3f}  PCK@0.1 "
                    f"{np.nanmean(scores[w][0.1]):.3f}  (per pair @0.1: "
                    f"{' '.join(f'{s:.2f}' for s in scores[w][0.1])})",
                    flush=True,
                )
            print(f"{tag} median search time {statistics.median(t_all):.2f} s over {len(t_all)} pairs", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pairs")
    p.add_argument("--sizes", default="224,448")
    p.add_argument("--kinds", default="lion_cat,1photo2style,2style2style,3style2photo,4photo2photo,content/style")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--backbone", default="vgg16-hed")
    o = sub.add_parser("one")
    o.add_argument("a")
    o.add_argument("b")
    o.add_argument("--size", type=int, default=224)
    o.add_argument("--repeat", type=int, default=3)
    o.add_argument("--backbone", default="vgg16-hed")
    m = sub.add_parser("morph")
    m.add_argument("--size", type=int, default=448)
    m.add_argument("--frames", type=int, default=25)
    m.add_argument("--backbone", default="vgg16-hed")
    t = sub.add_parser("tss")
    t.add_argument("--size", type=int, default=224)
    t.add_argument("--backbones", default="vgg16-hed,efficientnet-lite0")
    t.add_argument(
        "--common",
        default="paper,authors,none",
        help="common-appearance variants to compare (BuddiesParams.common_appearance)",
    )
    args = ap.parse_args()
    if args.cmd == "one":
        print(json.dumps(run_one(args.a, args.b, args.size, args.repeat, args.backbone)))
    elif args.cmd == "pairs":
        pairs(args)
    elif args.cmd == "morph":
        morph_bench(args)
    else:
        tss(args)


if __name__ == "__main__":
    main()
