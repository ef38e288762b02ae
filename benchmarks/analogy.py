"""Deep Image Analogy benchmark: time, peak memory and TSS flow accuracy.

    python benchmarks/analogy.py tss   [--size 224] [--set match_backbone=efficientnet-lite0 ...]
    python benchmarks/analogy.py pairs [--size 448] [--kinds 1photo2style,...] [--out DIR]

``tss`` runs the TSS sample of ``../shared/data/tss-sample`` (one analogy per pair gives both flows)
and prints per-pair and mean flow accuracy (the benchmark's metric, via analogist.eval.metrics).
``pairs`` runs the Deep Image Analogy demo pairs listed in ``../shared/data/demo-pairs/pairs.csv``,
each in a fresh process (so the peak resident memory is that pair's), writes an overview picture per
pair into ``--out`` (default ``benchmarks/out/analogy``, git-ignored) and prints time and memory.
``--set name=value`` overrides any AnalogyParams field; ``--threads`` sets torch's thread count.
Timings depend on what else runs on the machine: say so when quoting them.
"""

from __future__ import annotations

import argparse
import ast
import csv
import multiprocessing
import resource
import statistics
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch

from analogist.io import load_image, resize_longer, save_image
from analogist.matching.flow import flow_to_nnf, nnf_to_flow
from analogist.methods.analogy import AnalogyParams, deep_image_analogy

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DIA_KINDS = ("1photo2style", "2style2style", "3style2photo", "4photo2photo")
MODES = {
    "1photo2style": "photo2style",
    "2style2style": "style2style",
    "3style2photo": "style2photo",
    "4photo2photo": "photo2photo",
}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _parse_sets(items: list[str]) -> dict:
    names = {f.name for f in fields(AnalogyParams)}
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in names:
            sys.exit(f"error: AnalogyParams has no field {key!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


# ------------------------------------------------------------------------------------------------ TSS


def run_tss(params: AnalogyParams, size: int) -> None:
    from analogist.eval.metrics import flow_accuracy, flow_to_size
    from analogist.eval.tss import load_tss_pair, tss_pairs

    pairs = tss_pairs(SHARED / "tss-sample")
    rows, times, cpu = [], [], []
    for pair in pairs:
        d = load_tss_pair(pair)
        a, b = resize_longer(d.image1, size), resize_longer(d.image2, size)
        if pair.flip:  # match against the mirrored image2, as the TSS kit intends
            b = b.flip(-1)
        t0, c0 = time.perf_counter(), time.process_time()
        res = deep_image_analogy(a, b, params)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        (H1, W1), (H2, W2) = d.image1.shape[-2:], d.image2.shape[-2:]
        (ha, wa), (hb, wb) = a.shape[-2:], b.shape[-2:]
        f_ab = flow_to_size(res.flow_ab, (H1, W1), (W2 / wb, H2 / hb))
        f_ba = flow_to_size(res.flow_ba, (H2, W2), (W1 / wa, H1 / ha))
        if pair.flip:
            nnf = flow_to_nnf(f_ab)
            f_ab = nnf_to_flow(torch.stack([(W2 - 1) - nnf[0], nnf[1]]))
            f_ba = nnf_to_flow(flow_to_nnf(f_ba).flip(-1))
        acc = np.nanmean(
            [
                flow_accuracy(f_ab, d.flow1, d.mask1, target_size=(H2, W2)),
                flow_accuracy(f_ba, d.flow2, d.mask2, target_size=(H1, W1)),
            ]
        )
        rows.append((pair.subset, pair.name, acc))
        print(f"  {pair.name:24s} accuracy {acc:.3f}  {times[-1]:6.1f} s wall, {cpu[-1]:6.1f} s CPU", flush=True)
    subsets = sorted({r[0] for r in rows})
    per = {s: float(np.mean([r[2] for r in rows if r[0] == s])) for s in subsets}
    mean = float(np.mean(list(per.values())))
    print(
        "TSS sample: " + " / ".join(f"{s} {v:.3f}" for s, v in per.items()) + f" / mean {mean:.3f} "
        f"(paper, full TSS: 0.762 / 0.685 / 0.513 / 0.653); median {statistics.median(times):.1f} s wall, "
        f"{statistics.median(cpu):.1f} s CPU per pair, "
        f"peak {_peak_mib():.0f} MiB, {torch.get_num_threads()} threads"
    )


# ---------------------------------------------------------------------------------------------- pairs


def _one_pair(
    kind: str, path_a: str, path_b: str, params: AnalogyParams, size: int, out: str, threads: int
) -> tuple[float, float, dict]:
    torch.set_num_threads(threads)
    from analogist.cli.analogy import overview

    a, b = load_image(path_a, size), load_image(path_b, size)
    t0, c0 = time.perf_counter(), time.process_time()
    res = deep_image_analogy(a, b, replace(params, mode=MODES[kind]))
    seconds = time.perf_counter() - t0
    res.timings["cpu"] = time.process_time() - c0
    name = f"{kind}_{Path(path_a).stem}"
    save_image(Path(out) / f"{name}.jpg", overview(a, b, res))
    return seconds, _peak_mib(), res.timings


def run_pairs(params: AnalogyParams, size: int, kinds: list[str], out: Path, threads: int, limit: int | None) -> None:
    with open(SHARED / "demo-pairs" / "pairs.csv", newline="") as fh:
        todo = [r for r in csv.DictReader(fh) if r["kind"] in kinds]
    todo = todo[:limit] if limit else todo
    out.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    secs, peaks = [], []
    for r in todo:
        with ctx.Pool(1) as pool:  # a fresh process per pair: ru_maxrss is that pair's peak
            seconds, peak, timings = pool.apply(
                _one_pair,
                (
                    r["kind"],
                    str(SHARED / "demo-pairs" / r["image_A"]),
                    str(SHARED / "demo-pairs" / r["image_B"]),
                    params,
                    size,
                    str(out),
                    threads,
                ),
            )
        secs.append(seconds)
        peaks.append(peak)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in timings.items() if k != "total")
        print(
            f"  {r['kind']:14s} {Path(r['image_A']).name:8s} {seconds:6.1f} s  peak {peak:6.0f} MiB  ({stages})",
            flush=True,
        )
    print(
        f"{len(todo)} pairs at {size} px: median {statistics.median(secs):.1f} s, max {max(secs):.1f} s, "
        f"peak memory max {max(peaks):.0f} MiB, {threads} threads; overviews in {out}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["tss", "pairs"])
    p.add_argument("--size", type=int, default=None, help="longer side (default: tss 224, pairs 448)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override an AnalogyParams field")
    p.add_argument("--kinds", default=",".join(DIA_KINDS), help="pairs.csv kinds to run")
    p.add_argument("--limit", type=int, default=None, help="run only the first N pairs")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "analogy")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"error: {SHARED} not found (the benchmark needs ../shared beside the repo)")
    torch.set_num_threads(args.threads)
    params = AnalogyParams(size=None, **_parse_sets(args.set))
    print(f"params: { {k: v for k, v in _parse_sets(args.set).items()} or 'defaults' }", flush=True)
    if args.what == "tss":
        run_tss(params, args.size or 224)
    else:
        run_pairs(params, args.size or 448, args.kinds.split(","), args.out, args.threads, args.limit)


if __name__ == "__main__":
    main()
