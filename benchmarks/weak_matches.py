"""What the weak-correspondence notes look at, on related and unrelated pairs (sets their thresholds).

    python benchmarks/weak_matches.py [--size 160]

For each pair: the best buddies found and how many of ``k`` = 15 driving pairs agree on one deformation
(align, hybrid, morph).
Related: the bundled cat pair, the best-buddies lion/cat pair and Deep Image Analogy's photo/style pairs
(``../shared/data/demo-pairs``); unrelated: the same images crossed with images of another subject.
Prints the rows and which ones :mod:`analogist.tasks.confidence` would flag.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from analogist.apps.align import select_pairs
from analogist.data import example_path
from analogist.io import load_image
from analogist.methods.buddies import BuddiesParams, neural_best_buddies
from analogist.tasks.confidence import buddies_note

DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "demo-pairs"


def pairs() -> list[tuple[str, Path, Path]]:
    ex = example_path
    related = [("related", ex("cat.jpg"), ex("cat_painting.jpg"))]
    unrelated = [
        ("unrelated", ex("cat.jpg"), ex("rocket.jpg")),
        ("unrelated", ex("astronaut.jpg"), ex("swirls.jpg")),
        ("unrelated", ex("coffee.jpg"), ex("cat_painting.jpg")),
        ("unrelated", ex("rocket.jpg"), ex("astronaut.jpg")),
    ]
    if (DEMO / "pairs.csv").is_file():
        with open(DEMO / "pairs.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["kind"] != "README demo"]
        related += [("related", DEMO / r["image_A"], DEMO / r["image_B"]) for r in rows[::3]]
        unrelated += [("unrelated", DEMO / r["image_A"], ex("rocket.jpg")) for r in rows[1::3]]
    return related + unrelated


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--k", type=int, default=15)
    args = ap.parse_args()
    print(f"{'kind':10} {'pair':44} {'buddies':>7} {'agree/k':>8}  note")
    for kind, pa, pb in pairs():
        a, b = load_image(pa, args.size), load_image(pb, args.size)
        res = neural_best_buddies(a, b, BuddiesParams(k=args.k, size=args.size))
        agree = int(select_pairs(res.points, res.ranks, args.k).numel()) if res.points.shape[0] else 0
        flag = buddies_note(int(res.points.shape[0]), agree, args.k)
        name = f"{pa.parent.name}/{pa.name} + {pb.name}"[-44:]
        print(f"{kind:10} {name:44} {res.points.shape[0]:>7} {agree:>5}/{args.k:<2}  {'WEAK' if flag else ''}")


if __name__ == "__main__":
    main()
