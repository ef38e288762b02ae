"""Every method's headline command on this CPU as it is and as a CPU with AVX2 only (no AVX-512, VNNI, bf16).

    python benchmarks/portability.py [--settings native,avx2] [--only nnst-d-512,coat-free-512] [--repeat 1]
                                     [--forced fp32,bf16]
    python benchmarks/portability.py --isa-check    # does the emulation slow int8 and bf16 down?

Each command runs in a fresh process (``analogist ... -v``), so its time includes the imports and the
weights' loading a user waits for, its peak memory is that process's (``wait4``'s ``ru_maxrss``), and
the path it took per kind of operation is read off its ``-v`` notes (``kernels: conv runs fp32-cl``).
Each setting first runs ``analogist info``, which measures the kernel rates into a cache folder of its
own (printed), so the timed runs read them as a user's second run would.

The AVX2 emulation: ``ONEDNN_MAX_CPU_ISA=AVX2`` caps oneDNN's kernels (its bf16 convolutions and
products then run a reference kernel) and ``ATEN_CPU_CAPABILITY=avx2`` PyTorch's own. Neither slows the
int8 product: ``torch._int_mm`` asks cpuinfo (not oneDNN) whether the CPU has VNNI, and oneDNN has an
AVX2 int8 kernel, so under them it stays fast here. On a CPU without VNNI torch runs its own plain loop
instead; the emulation runs that same loop (``torch._int_mm`` with oneDNN switched off for that call
only, about 1 GMAC/s here against 30-180 natively). ``--forced`` adds rows with ``ANALOGIST_PRECISION``
set, to compare ``auto`` with each single-precision path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(Path(__file__).resolve().parent))

AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
#: Run in the emulated process before the command: torch._int_mm as on a CPU without VNNI.
AVX2_SHIM = """
import torch
_int_mm = torch._int_mm
def _no_vnni(a, b):
    with torch.backends.mkldnn.flags(enabled=False):
        return _int_mm(a, b)
torch._int_mm = _no_vnni
"""
#: The command's process: the shim, the CLI, and its peak resident memory printed as it exits.
RUN = """import atexit, resource, sys
def _report():
    u = resource.getrusage(resource.RUSAGE_SELF)
    print(f"peak_mb {{u.ru_maxrss / 1024:.0f}} cpu_s {{u.ru_utime + u.ru_stime:.2f}}", file=sys.stderr)
atexit.register(_report)
{shim}
from analogist.cli import main
sys.exit(main(sys.argv[1:]))"""


def _example(name: str) -> str:
    from analogist.data import example_path

    return str(example_path(name))


def _coat_pair() -> tuple[str, str]:
    """face0 of faces-dev (the README's COAT timing pair) where the shared data is, else the cat pair."""
    csv = SHARED / "faces-dev" / "pairs.csv"
    if csv.is_file():
        row = csv.read_text().splitlines()[1].split(",")
        return str(SHARED / "faces-dev" / row[0]), str(SHARED / "faces-dev" / row[1])
    return _example("cat.jpg"), _example("cat_painting.jpg")


def _clip(folder: Path) -> str:
    """The video benchmark's ``pan`` clip, 8 frames at 256 px, as PNGs in ``folder``."""
    from video import make_clip

    from analogist.io import save_image

    folder.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(make_clip("pan", 256, 8)):
        save_image(folder / f"frame_{k:03d}.png", frame)
    return str(folder)


def commands(tmp: Path) -> dict[str, list[str]]:
    """The headline commands (arguments after ``analogist``), output paths under ``tmp``."""
    cat, painting = _example("cat.jpg"), _example("cat_painting.jpg")
    astro, swirls = _example("astronaut.jpg"), _example("swirls.jpg")
    face_a, face_b = _coat_pair()
    o = str(tmp / "out")
    return {  # the three targets first
        "nnst-d-512": ["stylize", astro, swirls, "-o", o + ".png", "--size", "512", "--preset", "decoder"],
        "coat-free-512": ["appearance", face_a, face_b, "-o", o, "--size", "512"],
        "nnst-fast-256": ["stylize", astro, swirls, "-o", o + ".png", "--size", "256", "--preset", "fast"],
        "dia-224": ["analogy", cat, painting, "-o", o, "--size", "224"],
        "nbb-224": ["buddies", cat, painting, "-o", o, "--size", "224"],
        "nnst-fast-512": ["stylize", astro, swirls, "-o", o + ".png", "--size", "512", "--preset", "fast"],
        "samnet-448": ["samnet", cat, painting, "-o", o, "--size", "448"],
        "coat-learned-512": ["appearance", face_a, face_b, "-o", o, "--size", "512", "--form", "learned"],
        "video-256": ["video", _clip(tmp / "clip"), swirls, "-o", o + ".mp4", "--size", "256"],
    }


def run(argv: list[str], env: dict[str, str], emulate: bool) -> dict[str, object]:
    """One command in a fresh process: wall seconds, peak MB, the paths its ``-v`` notes name."""
    code = RUN.format(shim=AVX2_SHIM if emulate else "")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *argv, "-v"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    peak = re.findall(r"peak_mb (\d+) cpu_s (\S+)", proc.stderr)
    mb, cpu = (float(peak[-1][0]), float(peak[-1][1])) if peak else (float("nan"), float("nan"))
    paths = sorted(set(re.findall(r"kernels: (\S+) runs (\S+)", proc.stderr)))
    return {"s": seconds, "cpu_s": cpu, "mb": mb, "paths": [f"{k} {p}" for k, p in paths], "load": os.getloadavg()[0]}


#: ``--isa-check``: one (256, 2688) @ (2688, 1024) product per precision, best of 3, in GMAC/s.
ISA_CHECK = """
import time, torch
a, b = torch.randn(256, 2688), torch.randn(2688, 1024)
ops = {"fp32": (a, b, torch.mm), "bf16": (a.bfloat16(), b.bfloat16(), torch.mm),
       "int8": (a.mul(20).to(torch.int8), b.mul(20).to(torch.int8), lambda x, y: torch._int_mm(x, y))}
out = []
for name, (x, y, f) in ops.items():
    f(x, y)
    t = min(-time.perf_counter() + (f(x, y), time.perf_counter())[1] for _ in range(3))
    out.append(f"{name} {256 * 2688 * 1024 / t / 1e9:6.1f}")
print("   ".join(out), "  VNNI per torch.cpu:", torch.cpu._is_vnni_supported())
"""


def isa_check() -> None:
    """Product rates natively, under the two variables alone, and with the int8 shim too."""
    for label, env, shim in (
        ("native", {}, ""),
        ("ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2", AVX2_ENV, ""),
        ("the same and torch._int_mm without oneDNN", AVX2_ENV, AVX2_SHIM),
    ):
        proc = subprocess.run(
            [sys.executable, "-c", shim + ISA_CHECK], env={**os.environ, **env}, capture_output=True, text=True
        )
        print(f"{label:<50} GMAC/s: {proc.stdout.strip() or proc.stderr.strip()[-200:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", default="native,avx2")
    ap.add_argument("--only", default="", help="comma-separated command names (default all)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per command and setting (median printed)")
    ap.add_argument("--forced", default="", help="also run with ANALOGIST_PRECISION set to each of these")
    ap.add_argument("--isa-check", action="store_true", help="only the emulation check of the products")
    args = ap.parse_args()
    model = platform.processor() or platform.machine()
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"CPU: {model}, {os.cpu_count()} logical cores; load average {os.getloadavg()[0]:.1f} at the start")
    if args.isa_check:
        isa_check()
        return 0
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cmds = commands(tmp)
        names = [n for n in cmds if not args.only or n in args.only.split(",")]
        for setting in args.settings.split(","):
            emulate = setting == "avx2"
            base = {**os.environ, "ANALOGIST_CACHE_DIR": str(tmp / f"cache-{setting}"), **(AVX2_ENV if emulate else {})}
            base.pop("ANALOGIST_PRECISION", None)
            info = subprocess.run(
                [sys.executable, "-c", RUN.format(shim=AVX2_SHIM if emulate else ""), "info"],
                env=base,
                capture_output=True,
                text=True,
            )
            print(
                f"\n[{setting}] "
                + "\n".join(ln for ln in info.stdout.splitlines() if ln.startswith(("kernels", "  conv", "  product")))
            )
            for name in names:
                for forced in ["auto", *[f for f in args.forced.split(",") if f]]:
                    env = {**base, **({"ANALOGIST_PRECISION": forced} if forced != "auto" else {})}
                    runs = [run(cmds[name], env, emulate) for _ in range(args.repeat)]
                    row = {
                        "command": name,
                        "setting": setting,
                        "precision": forced,
                        "s": statistics.median(r["s"] for r in runs),
                        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
                        "mb": max(r["mb"] for r in runs),
                        "paths": runs[0]["paths"],
                        "load": max(r["load"] for r in runs),
                    }
                    rows.append(row)
                    OUT.mkdir(parents=True, exist_ok=True)
                    (OUT / "portability.json").write_text(json.dumps({"cpu": model, "rows": rows}, indent=1))
                    print(
                        f"  {name:<17} {forced:<5} {row['s']:7.1f} s {row['cpu_s']:7.1f} CPU s {row['mb']:6.0f} MB"
                        f"  load {row['load']:4.1f}  {', '.join(row['paths']) or '-'}",
                        flush=True,
                    )
    print("\ncommand            " + "".join(f"{s:>34}" for s in args.settings.split(",")))
    for name in names:
        cells = []
        for setting in args.settings.split(","):
            r = [x for x in rows if x["command"] == name and x["setting"] == setting and x["precision"] == "auto"]
            cells.append(f"{r[0]['s']:6.1f} s {r[0]['cpu_s']:6.1f} CPU s {r[0]['mb']:5.0f} MB" if r else "")
        print(f"{name:<19}" + "".join(f"{c:>34}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
