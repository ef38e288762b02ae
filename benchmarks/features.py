"""Forward time (median of several runs) and peak memory of each offline backbone at 224, 448 and 512 px.

Usage: python benchmarks/features.py [--runs 5] [--sizes 224,448,512] [--backbones vgg16-hed,efficientnet-lite0]
       python benchmarks/features.py --backbones dinov2-s,dinov2-b,dinov2-l --sizes 224,448 --random-weights

Each (backbone, size) runs in a fresh process so that its peak resident memory is its own. The pyramid
is the backbone's default layers (what the methods ask for), computed under no_grad. ``--random-weights``
times the DINOv2 architectures with random weights where the official checkpoints are absent (same
arithmetic, so the same time; the weights' own memory is counted as for the real files).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def measure(backbone: str, size: int, runs: int, random_weights: bool = False) -> dict:
    import torch

    from analogist.data import example_path
    from analogist.features import get_backbone
    from analogist.io import load_image

    if random_weights and backbone.startswith("dinov2"):
        from analogist.features.dinov2 import CONFIGS, DINOv2, VisionTransformer

        net = DINOv2(backbone, VisionTransformer(CONFIGS[backbone]).state_dict(), source="random weights")
    else:
        net = get_backbone(backbone)
    img = load_image(example_path("astronaut.jpg"), size)  # square: size x size
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    net.extract(img)  # warm-up: allocator and oneDNN kernels
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        net.extract(img)
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "backbone": backbone,
        "size": size,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "peak_rss_mb": peak / 1024,
        "forward_extra_mb": (peak - rss_loaded) / 1024,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="224,448,512")
    ap.add_argument("--backbones", default="vgg16-hed,efficientnet-lite0")
    ap.add_argument("--random-weights", action="store_true", help="DINOv2 with random weights (timing only)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.runs, args.random_weights)))
        return
    print(f"{'backbone':<20} {'size':>5} {'median s':>9} {'min s':>7} {'peak RSS MB':>12} {'forward MB':>11}")
    for backbone in args.backbones.split(","):
        for size in map(int, args.sizes.split(",")):
            extra = ["--random-weights"] if args.random_weights else []
            out = subprocess.run(
                [sys.executable, __file__, "--runs", str(args.runs), *extra, "--child", backbone, str(size)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{r['backbone']:<20} {r['size']:>5} {r['median_s']:>9.3f} {r['min_s']:>7.3f} "
                f"{r['peak_rss_mb']:>12.0f} {r['forward_extra_mb']:>11.0f}"
            )


if __name__ == "__main__":
    main()
