"""Two gallery methods pair by pair: medians, the paired median difference with a bootstrap interval,
and how many pairs each wins, per split, for each transfer measure.

A difference of medians over 15 pairs swings with one pair; the paired difference and its interval say
whether one method moves more colour or texture than another on the same pictures, or whether the gap
is within what resampling the pairs gives.

    python benchmarks/gallery_compare.py stylize-decoder --size 256
    python benchmarks/gallery_compare.py samnet --against stylize-fast --size 256 \\
        --measures benchmarks/out/gallery/measures.csv --base benchmarks/out/gallery/measures.csv

Each measures file is one ``gallery.py`` run's (it holds only the methods that run named), so the
method and its baseline may come from two runs.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MEASURES = ("colour_moved", "texture_moved", "structure")


def rows(path: Path, method: str, size: int) -> dict[str, dict[str, str]]:
    with open(path, newline="") as fh:
        return {r["pair"]: r for r in csv.DictReader(fh) if r["method"] == method and int(r["size"]) == size}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method")
    ap.add_argument("--against", default="stylize-fast", help="the baseline method (default stylize-fast)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--measures", type=Path, default=HERE / "out" / "gallery" / "measures.csv")
    ap.add_argument("--base", type=Path, default=None, help="the baseline's measures.csv (default: --measures)")
    ap.add_argument("--resamples", type=int, default=4000)
    args = ap.parse_args()
    other = rows(args.measures, args.method, args.size)
    base = rows(args.base or args.measures, args.against, args.size)
    rng = np.random.default_rng(0)
    print(
        f"{args.method} against {args.against} at {args.size} px: median, paired median difference [90 % bootstrap], wins"
    )
    for split in ("dev", "confirm", "all"):
        pairs = [p for p in other if p in base and not other[p]["error"] and not base[p]["error"]]
        pairs = [p for p in pairs if split == "all" or other[p]["split"] == split]
        if not pairs:
            continue
        for key in MEASURES:
            a = np.array([float(base[p][key]) for p in pairs])
            b = np.array([float(other[p][key]) for p in pairs])
            d = b - a
            boot = np.median(rng.choice(d, (args.resamples, d.size)), axis=1)
            lo, hi = np.percentile(boot, [5, 95])
            print(
                f"{split:8s} {key:14s} n={d.size:2d}  {np.median(a):.3f} -> {np.median(b):.3f}  "
                f"paired {np.median(d):+.3f} [{lo:+.3f}, {hi:+.3f}]  wins {int((d > 0).sum())}/{d.size}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
