"""TSS flow accuracy of the registered matchers on ../shared/data/tss-sample (six pairs).

Each configuration runs in a fresh process so that its peak resident memory (ru_maxrss) is its own.

    python benchmarks/eval_tss.py                 # nn on both offline backbones at their default layers
    python benchmarks/eval_tss.py --sweep         # nn layer sweep (how the default layers were chosen)
    python benchmarks/eval_tss.py --methods dia buddies --size 224
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tss-sample"

SWEEP = {
    ("vgg16-hed", 224): ("relu3_3", "relu4_1", "relu4_3", "relu5_1", "relu5_3"),
    ("efficientnet-lite0", 448): ("stage4", "stage5", "stage6", "stage7", "head"),
}


def run_one(method: str, backbone: str, size: int, layer: str | None, flip: bool = True) -> dict:
    code = (
        "import json, sys\n"
        "from analogist.eval.datasets import tss_pairs\n"
        "from analogist.eval.runner import EvalConfig, evaluate\n"
        f"opts = (('layer', {layer!r}),) if {layer!r} else ()\n"
        f"cfg = EvalConfig({method!r}, {backbone!r}, {size}, options=opts, use_flip={flip})\n"
        f"r = evaluate('tss', tss_pairs({str(DATA)!r}), cfg)\n"
        "print(json.dumps({'groups': r.groups, 's': r.seconds_per_pair, 'mib': r.peak_rss_mib}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", action="store_true", help="nn over several layers per backbone")
    ap.add_argument("--methods", nargs="+", default=["nn"])
    ap.add_argument("--size", type=int, default=None, help="override the per-backbone size (224 / 448)")
    ap.add_argument("--no-flip", action="store_true")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is missing")
    configs = []
    for (backbone, size), layers in SWEEP.items():
        size = args.size or size
        for method in args.methods:
            if method == "nn" and args.sweep:
                configs += [(method, backbone, size, layer) for layer in layers]
            elif method == "nn" or backbone == "vgg16-hed":  # dia/buddies reconstruct through VGG
                configs.append((method, backbone, size, None))
    print(
        f"{'method':8} {'backbone':19} {'size':>4} {'layer':8} {'FG3DCar':>7} {'JODS':>6} {'PASCAL':>6} {'mean':>6} {'s/pair':>7} {'MiB':>5}"
    )
    for method, backbone, size, layer in configs:
        r = run_one(method, backbone, size, layer, flip=not args.no_flip)
        g = {k: v["accuracy"] for k, v in r["groups"].items()}
        print(
            f"{method:8} {backbone:19} {size:4d} {layer or 'default':8} {g.get('FG3DCar', float('nan')):7.3f} "
            f"{g.get('JODS', float('nan')):6.3f} {g.get('PASCAL', float('nan')):6.3f} {g['mean']:6.3f} "
            f"{r['s']:7.2f} {r['mib']:5.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
