"""Time and peak memory of each method on each device present, at 224 and 512 px.

    python benchmarks/devices.py [--methods analogy buddies ...] [--sizes 224 512] [--devices cpu cuda] [--threads N]

Methods: ``analogy`` (Deep Image Analogy, defaults), ``buddies`` (Neural Best-Buddies, defaults),
``stylize`` (NNST, the ``fast`` preset), ``samnet`` (SAM-Net, training-free, 10 iterations),
``appearance`` (COAT, training-free). Inputs are the bundled ``cat.jpg`` and ``cat_painting.jpg``
resized so that the longer side is the size; each method runs at that size (its ``size`` parameter set
to it), so the rows compare devices, not the methods' default working sizes.

Every (method, size, device) runs in a fresh process: the backbone is loaded and moved to the device
first (not timed), then one run is timed (CUDA: synchronised). Peak memory is
``torch.cuda.max_memory_allocated`` on CUDA and the process's peak resident set (``ru_maxrss``,
torch and the weights included) on the CPU. The CPU seconds (user + system) are printed beside the
wall time because other processes on a shared machine inflate wall time far more than CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

METHODS = ("analogy", "buddies", "stylize", "samnet", "appearance")

_ONE = r"""
import json, resource, sys, time
import torch
torch.set_num_threads({threads})
import analogist
from analogist.features import get_backbone
method, size, device = {method!r}, {size}, torch.device({device!r})
a = analogist.load_image(analogist.example_path("cat.jpg"), size).to(device)
b = analogist.load_image(analogist.example_path("cat_painting.jpg"), size).to(device)
if method == "analogy":
    params = analogist.AnalogyParams(size=size)
    run = lambda: analogist.deep_image_analogy(a, b, params)
    nets = [params.backbone, params.match_backbone]
elif method == "buddies":
    params = analogist.BuddiesParams(size=size)
    run = lambda: analogist.neural_best_buddies(a, b, params)
    nets = [params.backbone]
elif method == "stylize":
    params = analogist.preset("fast")
    run = lambda: analogist.stylize(a, b, params)
    nets = [params.backbone]
elif method == "samnet":
    params = analogist.SAMNetParams(size=size, form="training-free")
    run = lambda: analogist.sam_net(a, b, params)
    nets = [params.backbone]
else:
    params = analogist.COATParams()
    run = lambda: analogist.coat(a, b, params)
    nets = [params.backbone]
for name in nets:  # loading the weights and moving them to the device is not timed
    get_backbone(name, device=device)
if device.type == "cuda":
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
cpu0, t0 = time.process_time(), time.perf_counter()
out = run()
if device.type == "cuda":
    torch.cuda.synchronize(device)
wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
if device.type == "cuda":
    peak = torch.cuda.max_memory_allocated(device) / 2**20
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall": wall, "cpu": cpu, "peak_mb": peak, "shape": list(a.shape[-2:])}}))
"""


def devices_present() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def run_one(method: str, size: int, device: str, threads: int) -> dict[str, float]:
    code = _ONE.format(method=method, size=size, device=device, threads=threads)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--sizes", nargs="+", type=int, default=[224, 512])
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda where present")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()
    devices = args.devices or devices_present()
    print(f"threads {args.threads}, load average {os.getloadavg()[0]:.1f}, devices {', '.join(devices)}")
    print(f"{'method':<11} {'size':>5} {'device':<7} {'wall s':>8} {'cpu s':>8} {'peak MB':>9}")
    for method in args.methods:
        for size in args.sizes:
            for device in devices:
                r = run_one(method, size, device, args.threads)
                if "error" in r:
                    print(f"{method:<11} {size:>5} {device:<7} error: {r['error']}", flush=True)
                    continue
                print(
                    f"{method:<11} {size:>5} {device:<7} {r['wall']:>8.2f} {r['cpu']:>8.2f} {r['peak_mb']:>9.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
