"""Where a headline command's time goes, natively or under the AVX2 emulation of ``portability.py``.

    python benchmarks/portability_profile.py nnst-d-512 [--avx2] [--precision fp32]

Runs the command (``portability.commands``) in a fresh process under cProfile and prints the
cumulative wall seconds of the stages that matter (the VGG passes, the nearest-neighbour products, the
decoder, the Adam steps, the colour step), with the run's total and the path each kind took. Stages
nest where the method nests them: the Adam steps include their own VGG passes and matches.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from portability import AVX2_ENV, AVX2_SHIM, commands  # noqa: E402

#: (label, function names in cProfile's ``file:line(name)`` keys) summed per stage.
STAGES = [
    ("VGG passes", ("(layers)", "(rows)")),
    ("nearest-neighbour products", ("(match)", "(confident_set)")),
    ("decoder", ("(embedded_bands)", "(embed)")),
    ("Adam steps (forward + backward)", ("(optimise_pyramid)", "(split_phase)")),
    ("colour step", ("(postprocess)", "(part_color)")),
    ("SAM-Net field (COAT's part fill)", ("(part_flow)",)),
]
PROFILED = """
import cProfile, pstats, sys, time
{shim}
from analogist.cli import main
prof = cProfile.Profile()
start = time.perf_counter()
prof.enable()
code = main(sys.argv[1:])
prof.disable()
total = time.perf_counter() - start
stats = pstats.Stats(prof).stats
print(f"total {{total:.2f}}")
for (file, line, name), (cc, nc, tt, ct, callers) in stats.items():
    print(f"fn ({{name}}) {{ct:.3f}}")
sys.exit(code)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command")
    ap.add_argument("--avx2", action="store_true", help="under the AVX2 emulation")
    ap.add_argument("--precision", default="", help="ANALOGIST_PRECISION for the run (default auto)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        argv = commands(Path(tmp))[args.command]
        env = {**os.environ, "ANALOGIST_CACHE_DIR": str(Path(tmp) / "cache"), **(AVX2_ENV if args.avx2 else {})}
        if args.precision:
            env["ANALOGIST_PRECISION"] = args.precision
        code = PROFILED.format(shim=AVX2_SHIM if args.avx2 else "")
        proc = subprocess.run([sys.executable, "-c", code, *argv, "-v"], env=env, capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr[-2000:])
        return proc.returncode
    best: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("fn "):
            name, seconds = line[3:].rsplit(" ", 1)
            best[name] = max(best.get(name, 0.0), float(seconds))
    total = float(next(ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("total")))
    paths = sorted({ln.split("kernels: ")[1] for ln in proc.stderr.splitlines() if " runs " in ln})
    print(f"{args.command} ({'AVX2 emulation' if args.avx2 else 'native'}): {total:.1f} s in the command")
    for p in paths:
        print(f"  path: {p[:110]}")
    for label, names in STAGES:
        seconds = sum(best.get(n, 0.0) for n in names)
        if seconds:
            print(f"  {label:<34} {seconds:6.1f} s  {100 * seconds / total:4.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
