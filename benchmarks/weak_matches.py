"""What the weak-correspondence notes look at, on related and unrelated pairs (sets their thresholds).

    python benchmarks/weak_matches.py [--size 160] [--pairs id,id,...]

Align's and morph's driving pairs as the web app's tasks find them (``apps.pair_search.deform_drivers``:
EfficientNet-Lite0, three searches at 224 px, ``k`` = 15) on the gallery's pairs
(``benchmarks/gallery_pairs.csv``; ``parrots-mountains`` is unrelated) and on the bundled images crossed
with another subject (unrelated). Per pair: the chosen scale, the best buddies that search found, how
many of its ``2k`` spread pairs agree on one deformation (at most ``k``), the drivers kept, and the
feature agreement of the chosen map; and whether :func:`analogist.tasks.confidence.drivers_note` warns.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from analogist.apps.pair_search import deform_drivers
from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image
from analogist.methods.buddies import BuddiesParams
from analogist.tasks.buddies import deform_params
from analogist.tasks.confidence import drivers_note

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gallery import inputs, read_pairs  # noqa: E402


def pairs(ids: set[str], work: Path) -> list[tuple[str, str, Path, Path]]:
    """``(kind, name, A, B)`` of the gallery's pairs, the bundled cat pair and the crossed ones; only
    those named in ``ids`` where it is not empty."""
    out = []
    for p in read_pairs():
        a, b = inputs(p, work)
        out.append(("unrelated" if p.kind == "unrelated" else "related", p.id, a, b))
    ex = example_path
    out.append(("related", "cat-cat_painting", ex("cat.jpg"), ex("cat_painting.jpg")))
    crossed = [("cat", "rocket"), ("astronaut", "swirls"), ("coffee", "cat_painting"), ("rocket", "astronaut")]
    out += [("unrelated", f"{x}-{y}", ex(f"{x}.jpg"), ex(f"{y}.jpg")) for x, y in crossed]
    out.append(("unrelated", "noise-noise", _noise(work, 0), _noise(work, 1)))
    return [p for p in out if not ids or p[1] in ids]


def _noise(work: Path, seed: int) -> Path:
    """A 96-px image of uniform noise (the web test's unrelated pair)."""
    path = work / f"noise{seed}.png"
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--pairs", default="", help="comma-separated pair names (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'kind':10} {'pair':22} {'scale':>5} {'found':>6} {'agree/k':>8} {'drivers':>7} {'feat':>6}  note")
    with tempfile.TemporaryDirectory() as work:
        for kind, name, pa, pb in pairs(set(filter(None, args.pairs.split(","))), Path(work)):
            a, b = load_image(pa, args.size), load_image(pb, args.size)
            params = deform_params({"k": args.k, "gamma": BuddiesParams.gamma})
            try:
                d = deform_drivers(a, b, params, args.k)
            except InputError as e:
                print(f"{kind:10} {name:22} refused: {e}")
                continue
            flag = "WEAK" if drivers_note(d) else ""
            print(
                f"{kind:10} {name:22} {d.scale:>5} {d.found:>6} {d.consistent:>5}/{args.k:<2} "
                f"{d.points.shape[0]:>7} {d.agreement:>6.3f}  {flag}"
            )


if __name__ == "__main__":
    main()
