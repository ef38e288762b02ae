"""NNST-D: what the decoder costs (ours against the paper's shape) and how its training went.

    python benchmarks/nnst_decoder.py cost [--size 512] [--threads N]
    python benchmarks/nnst_decoder.py curve CKPT [CKPT ...] [--every 50]

``cost`` prints parameters, size on disk (float16), multiply-adds and the median time of three decodes
at ``--size`` for the default decoder (1x1 reduction of the 2688 channels to 96, 64 hidden channels)
and for the paper's (all 2688 channels into every branch, 256 hidden channels). ``curve`` prints each
checkpoint's provenance and its losses averaged over windows of ``--every`` steps (the loss curve),
and saves a plot beside the first checkpoint's name under ``benchmarks/out/nnst_decoder/``.
Timings on a shared machine are inflated by other processes; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from analogist.features.hypercolumn import grid_size
from analogist.synthesis.decoder import Decoder, DecoderConfig, macs
from analogist.training import load_checkpoint

OUT = Path(__file__).resolve().parent / "out" / "nnst_decoder"


def cost(size: int) -> None:
    print(f"decode at {size}x{size} px, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"{'decoder':34s} {'params':>9s} {'MB fp16':>8s} {'GMAC':>7s} {'median s':>9s}")
    for name, cfg in (
        ("ours (reduce 96, hidden 64)", DecoderConfig()),
        ("paper (2688 in, hidden 256)", DecoderConfig(reduce=None, hidden=256)),
    ):
        dec = Decoder(cfg).eval()
        params = sum(p.numel() for p in dec.parameters())
        target = torch.randn(1, 2688, *grid_size((size, size))) * 0.01
        times = []
        with torch.no_grad():
            for _ in range(3):
                start = time.perf_counter()
                dec(target, (size, size))
                times.append(time.perf_counter() - start)
        print(
            f"{name:34s} {params:9d} {params * 2 / 2**20:8.1f} {macs(cfg, (size, size)) / 1e9:7.1f} "
            f"{statistics.median(times):9.2f}"
        )


def curve(paths: list[str], every: int) -> None:
    series = []
    for path in paths:
        state = load_checkpoint(path, kind="nnst-d")
        p, h = state["provenance"], state["history"]
        print(
            f"{path}: {state['step']} steps, {p['wall_seconds'] / 60:.0f} min on {p['device']} "
            f"({p['threads']} threads), torch {p['torch']}, batch {state['config']['batch']}, "
            f"scale {state['config']['scale']} px, {p['data']['content']['images']} photos, "
            f"{p['data']['style']['images']} artworks"
        )
        names = [k for k in h if k != "step"]
        print(f"{'steps':>11s} " + " ".join(f"{n:>7s}" for n in names))
        for start in range(0, len(h["step"]), every):
            window = slice(start, start + every)
            print(
                f"{start + 1:5d}-{min(start + every, len(h['step'])):5d} "
                + " ".join(f"{statistics.fmean(h[n][window]):7.4f}" for n in names)
            )
        series.append((path, h))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for path, h in series:
        for ax, name in zip(axes, ("rec", "cycle")):
            k = max(1, every // 5)
            smooth = [statistics.fmean(h[name][max(0, i - k) : i + 1]) for i in range(len(h[name]))]
            ax.plot(h["step"], smooth, label=Path(path).stem)
            ax.set_title({"rec": "Eq. 4 Laplacian reconstruction", "cycle": "Eq. 5 cycle (cosine)"}[name])
            ax.set_xlabel("step")
    axes[0].legend()
    fig.tight_layout()
    target = OUT / f"curve_{Path(paths[0]).stem}.png"
    fig.savefig(target, dpi=100)
    print(f"plot: {target}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--size", type=int, default=512)
    c.add_argument("--threads", type=int, default=None)
    k = sub.add_parser("curve")
    k.add_argument("checkpoints", nargs="+")
    k.add_argument("--every", type=int, default=50)
    args = ap.parse_args()
    if args.what == "cost":
        if args.threads:
            torch.set_num_threads(args.threads)
        cost(args.size)
    else:
        curve(args.checkpoints, args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
