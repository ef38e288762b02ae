"""SAM-Net candidates against issue 24's two bars: the fold share of the map on the gallery's pairs
(median / max per size and split, as ``benchmarks/gallery.py`` measures it: negative Jacobian
determinant of the flow subsampled 4x) and box PCK@0.1/@0.05 on the sets of ``pck_sets.py`` (with the
median fold share there and the median seconds per pair).

    python benchmarks/samnet_folds.py --variant base: --variant p1:fold_prior=1.0
    python benchmarks/samnet_folds.py --split confirm --sets faces-held,faces-far,warps-held \
        --variant base: --variant p1:fold_prior=1.0

Each ``--variant LABEL:NAME=VALUE,...`` (SAMNetParams fields) prints one row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gallery  # noqa: E402
import gallery_measures as gm  # noqa: E402
import pck_sets  # noqa: E402

from analogist.eval import matchers  # noqa: E402
from analogist.eval.runner import EvalConfig  # noqa: E402
from analogist.io import load_image  # noqa: E402

RECORD: list[dict[str, float]] = []


@matchers.register("samnet-folds", "SAM-Net, recording each map's fold share (benchmark only)")
def samnet_folds(
    a: torch.Tensor, b: torch.Tensor, *, backbone: str = "efficientnet-lite0", **options: Any
) -> torch.Tensor:
    from analogist.methods.samnet import SAMNetParams, sam_net

    t = time.perf_counter()
    flow = sam_net(a, b, SAMNetParams(**{"backbone": backbone, "render": "loop", **options})).flow.float()
    RECORD.append({**gm.folds(flow.numpy()), "s": time.perf_counter() - t})
    return flow


def gallery_folds(options: dict[str, Any], split: str, sizes: list[int]) -> dict[tuple[int, str], list[float]]:
    """Fold share per (size, split) over the gallery's pairs, each run as the command line runs it."""
    out: dict[tuple[int, str], list[float]] = {}
    work = gallery.HERE / "out" / "gallery"
    for pair in gallery.read_pairs():
        if split not in ("all", pair.split):
            continue
        a_path, b_path = gallery.inputs(pair, work)
        for size in sizes:
            a, b = load_image(a_path, size), load_image(b_path, size)
            RECORD.clear()
            samnet_folds(a, b, **{"size": None, **options})
            out.setdefault((size, pair.split), []).append(RECORD[-1]["fold"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL:NAME=VALUE,...")
    ap.add_argument("--split", choices=("dev", "confirm", "all"), default="dev")
    ap.add_argument("--sizes", default="128,256", help="gallery sizes ('' for none)")
    ap.add_argument("--sets", default="faces-dev,warps-dev,tss", help="pck_sets.py parts ('' for none)")
    ap.add_argument("--size", type=int, default=448, help="longer side of the PCK sets' images (default 448)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for spec in args.variant or ["base:"]:
        label, _, rest = spec.partition(":")
        options = {k: pck_sets.option_value(v) for k, v in (o.split("=", 1) for o in rest.split(",") if o)}
        cells = []
        for (size, split), folds in sorted(gallery_folds(options, args.split, sizes).items()):
            over = sum(f > 0.05 for f in folds)
            cells.append(f"fold {size}/{split} {statistics.median(folds):.3f}/{max(folds):.3f} ({over} > 5%)")
        config = EvalConfig("samnet-folds", "efficientnet-lite0", args.size, options=tuple(sorted(options.items())))
        for name in (s for s in args.sets.split(",") if s):
            RECORD.clear()
            sc = pck_sets.score(name, config)
            fold = statistics.median(r["fold"] for r in RECORD)
            secs = statistics.median(r["s"] for r in RECORD)
            acc = f"{sc['tss']:.3f}" if "tss" in sc else f"{sc['pck10']:.3f}/{sc['pck05']:.3f}"
            cells.append(f"{name} {acc} fold {fold:.3f} ({secs:.2f} s)")
        print(f"{label}: " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
