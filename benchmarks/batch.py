"""Batch throughput on this machine: local workers against Ray, 1, 2 and 4 workers, idle and busy.

    flock /tmp/analogist-cpu.lock python benchmarks/batch.py [--jobs 8] [--method analogy] [--size 112]
        [--workers 1,2,4] [--engines local,ray] [--loads idle,busy]

Every configuration runs the same job list (bundled example pairs, cycled) into a fresh output folder
through :func:`analogist.batch.run_batch`, as ``analogist batch`` does, with the default threads (the
cores shared out among local workers; one CPU per Ray job). ``busy`` runs the same while this script
keeps every core busy with spinning processes of its own, as other work on a shared machine would; the
``1 thread`` rows are the reference a busy run must not be several times slower than. Prints wall
seconds, jobs per minute and the median seconds a job takes in its worker, then local/Ray per worker
count. Take the lock (above) so no other heavy work runs meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import multiprocessing
import os
import platform
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from analogist.batch import plan_outputs, read_jobs, run_batch
from analogist.data import example_path
from analogist.threads import cores, threads_for

PAIRS = [
    ("cat.jpg", "cat_painting.jpg"),
    ("astronaut.jpg", "coffee.jpg"),
    ("rocket.jpg", "swirls.jpg"),
    ("cat_painting.jpg", "cat.jpg"),
]
#: Options per method that keep one job at a few seconds on one core.
OPTIONS = {"analogy": {"iters": "2", "semantic": "false"}, "buddies": {}, "stylize": {"steps": "6"}}


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def write_jobs(path: Path, n: int, method: str, size: int) -> Path:
    options = OPTIONS.get(method, {})
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "method", "a", "b", "size", *options])
        for i in range(n):
            a, b = PAIRS[i % len(PAIRS)]
            w.writerow([f"job-{i:03d}", method, example_path(a), example_path(b), size, *options.values()])
    return path


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def background(load: str) -> Iterator[None]:
    """``busy``: one spinning process per core for the duration (this script's own load)."""
    procs = []
    if load == "busy":
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_spin, daemon=True) for _ in range(cores())]
        for p in procs:
            p.start()
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
            p.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--method", default="analogy", choices=sorted(OPTIONS))
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--loads", default="idle,busy")
    args = ap.parse_args()
    print(
        f"{args.jobs} {args.method} jobs at {args.size} px on {cores()} cores of {cpu_name()}; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    print(f"{'load':5} {'engine':6} {'workers':>7} {'threads':>7} {'wall s':>7} {'jobs/min':>8} {'job s (median)':>14}")
    walls: dict[tuple[str, str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs_csv = write_jobs(Path(tmp) / "jobs.csv", args.jobs, args.method, args.size)
        jobs = read_jobs(jobs_csv)
        for load in args.loads.split(","):
            runs = [("local", 1, 1)]  # the one-thread reference
            runs += [(e, int(w), None) for w in args.workers.split(",") for e in args.engines.split(",")]
            with background(load):
                for n, (engine, workers, threads) in enumerate(runs):
                    out = Path(tmp) / f"out-{load}-{n}"
                    plan = plan_outputs(jobs, out, [jobs_csv])
                    # what the default gives now, as the run is about to ask (cores other work leaves free)
                    shown = threads or (1 if engine == "ray" else threads_for(workers))
                    report = run_batch(jobs, plan, engine=engine, workers=workers, threads=threads)
                    failed = [r for r in report.results if r.status != "done"]
                    if failed:
                        raise SystemExit(f"{engine}:{workers}: {len(failed)} jobs did not finish: {failed[0].error}")
                    job_s = statistics.median(r.seconds for r in report.results)
                    walls[(load, engine if threads is None else "1-thread", workers)] = report.seconds
                    print(
                        f"{load:5} {engine:6} {workers:>7} {shown:>7} {report.seconds:>7.1f} "
                        f"{report.jobs_per_minute:>8.1f} {job_s:>14.2f}" + ("   1-thread reference" if threads else ""),
                        flush=True,
                    )
    print("local wall / Ray wall on the same jobs (done when <= 1.3), and local / the 1-thread reference:")
    for (load, engine, workers), wall in walls.items():
        ray, one = walls.get((load, "ray", workers)), walls.get((load, "1-thread", 1))
        if engine == "local":
            vs_ray = f"{wall / ray:.2f}" if ray else "-"
            print(f"  {load:5} {workers} worker(s): local/Ray {vs_ray}, local/1-thread {wall / one:.2f}")


if __name__ == "__main__":
    main()
