"""Where SAM-Net's folds come from: the fold share of its map after the start, after each recurrent
iteration and after the finer last step, on the gallery's pairs, as ``benchmarks/gallery.py`` measures it
(``gallery_measures.folds``: negative Jacobian determinant of the pixel flow subsampled 4x), plus checks
of the measure itself (folds at the feature cells' centres; folds whose target lies outside the frame).

    python benchmarks/samnet_fold_stages.py --split dev --sizes 128,256
    python benchmarks/samnet_fold_stages.py --opt refine="''"      # SAMNetParams fields
    python benchmarks/samnet_fold_stages.py --final-only --opt fold_prior=1  # one row per size/split

Prints one line per pair and size, then the median / max per stage, size and split.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gallery  # noqa: E402
import gallery_measures as gm  # noqa: E402
import pck_sets  # noqa: E402

from analogist.io import load_image  # noqa: E402
from analogist.matching.affine_field import field_targets, field_to_flow  # noqa: E402


def cell_fold(field: torch.Tensor) -> float:
    """Share of the quads between the cells' own matches (``field_targets``) that flip orientation."""
    p = field_targets(field).double()
    p00, p10, p01 = p[:, :-1, :-1], p[:, :-1, 1:], p[:, 1:, :-1]
    p11 = p[:, 1:, 1:]

    def cross(o: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    area = torch.stack([cross(p00, p10, p01), cross(p11, p01, p10)]).amin(0)
    return float((area < 0).double().mean())


def outside_share(flow: np.ndarray, size_t: tuple[int, int], step: int = 4) -> float:
    """Of the folded samples, the share whose target lies outside the target frame."""
    f = flow[:, ::step, ::step] / step
    dxx, dxy = np.gradient(f[0], axis=1), np.gradient(f[0], axis=0)
    dyx, dyy = np.gradient(f[1], axis=1), np.gradient(f[1], axis=0)
    det = (1 + dxx) * (1 + dyy) - dxy * dyx
    h, w = flow.shape[-2:]
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    tx, ty = xs + flow[0, ::step, ::step], ys + flow[1, ::step, ::step]
    out = (tx < 0) | (ty < 0) | (tx > size_t[1] - 1) | (ty > size_t[0] - 1)
    folded = det < 0
    return float((folded & out).sum() / max(folded.sum(), 1))


def stages(a: torch.Tensor, b: torch.Tensor, options: dict[str, Any]) -> tuple[dict[str, float], float]:
    """Fold share after each stage of one run (and the run's seconds)."""
    from analogist.methods.samnet import SAMNetParams, core

    seen: dict[str, Any] = {}
    real_start, real_refine = core.buddies_field, core.refine_step

    def start(*args: Any, **kw: Any) -> torch.Tensor:
        seen["start"] = out = real_start(*args, **kw)
        seen["grid_t0"] = args[3]
        return out

    def refine(field: torch.Tensor, grid_t: Any, *args: Any) -> Any:
        seen["pre_refine"] = field
        out = real_refine(field, grid_t, *args)
        seen["refined"] = out[0]
        return out

    core.buddies_field, core.refine_step = start, refine
    try:
        t = time.perf_counter()
        params = SAMNetParams(**{"size": None, "keep_iterations": True, "render": "loop", **options})
        res = core.sam_net(a, b, params)
        secs = time.perf_counter() - t
    finally:
        core.buddies_field, core.refine_step = real_start, real_refine
    size_s, size_t = tuple(a.shape[-2:]), tuple(b.shape[-2:])
    row: dict[str, float] = {}
    if "start" in seen:
        row["start"] = gm.folds(field_to_flow(seen["start"], seen["grid_t0"], size_s, size_t).numpy())["fold"]
        row["start_cell"] = cell_fold(seen["start"])
    for i, it in enumerate(res.iterations, 1):
        row[f"iter{i}"] = gm.folds(it.flow.numpy())["fold"]
    if "pre_refine" in seen:
        row["loop_cell"] = cell_fold(seen["pre_refine"])
        row["fine_cell"] = cell_fold(seen["refined"])
    flow = res.flow.numpy()
    row["final"] = gm.folds(flow)["fold"]
    row["final_out"] = outside_share(flow, size_t)
    return row, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("dev", "confirm", "all"), default="dev")
    ap.add_argument("--sizes", default="128,256")
    ap.add_argument("--opt", action="append", default=[], metavar="NAME=VALUE", help="SAMNetParams field")
    ap.add_argument("--pairs", default="", help="comma-separated pair ids (default: the split's)")
    ap.add_argument("--faces", default="", help="faces-dev pairs FIRST:LAST at 448 px instead of the gallery")
    ap.add_argument("--final-only", action="store_true", help="no per-pair lines")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    options = {k: pck_sets.option_value(v) for k, v in (o.split("=", 1) for o in args.opt)}
    sizes = [int(s) for s in args.sizes.split(",") if s]
    wanted = {p for p in args.pairs.split(",") if p}
    table: dict[tuple[int, str], dict[str, list[float]]] = {}
    secs: list[float] = []
    work = gallery.HERE / "out" / "gallery"
    if args.faces:
        from analogist.eval.datasets import pairs_csv

        first, last = (int(v) for v in args.faces.split(":"))
        for i, kp in enumerate(pairs_csv(gallery.DATA / "faces-dev" / "pairs.csv")[first:last], first):
            row, s = stages(load_image(kp.source, 448), load_image(kp.target, 448), options)
            secs.append(s)
            for k, v in row.items():
                table.setdefault((448, "faces"), {}).setdefault(k, []).append(v)
            if not args.final_only:
                print(f"faces {i:<12d} 448 " + " ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    for pair in [] if args.faces else gallery.read_pairs():
        if (wanted and pair.id not in wanted) or (not wanted and args.split not in ("all", pair.split)):
            continue
        a_path, b_path = gallery.inputs(pair, work)
        for size in sizes:
            a, b = load_image(a_path, size), load_image(b_path, size)
            row, s = stages(a, b, options)
            secs.append(s)
            for k, v in row.items():
                table.setdefault((size, pair.split), {}).setdefault(k, []).append(v)
            if not args.final_only:
                print(f"{pair.id:18s} {size:4d} " + " ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    label = " ".join(args.opt) or "default"
    for (size, split), cols in sorted(table.items()):
        cells = " ".join(f"{k} {statistics.median(v):.3f}/{max(v):.3f}" for k, v in cols.items())
        print(f"[{label}] {size}/{split} (median/max): {cells}")
    print(f"[{label}] seconds per run: median {statistics.median(secs):.2f}")


if __name__ == "__main__":
    main()
