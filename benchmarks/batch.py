"""Batch throughput: 20 buddies jobs at 224 px, local with 1 and 2 workers and Ray with 2 workers.

    python benchmarks/batch.py [--jobs 20] [--size 224] [--engines local:1,local:2,ray:2]

Each configuration runs the same job list (bundled example pairs, cycled) into a fresh output folder
through :func:`analogist.batch.run_batch`, as ``analogist batch`` does. It prints the throughput (jobs
per minute of wall time, start-up included), the median time a job takes inside its worker (loading
its images, the method, writing its files) and the overhead per job: the wall time each worker
spends per job beyond that median (process or Ray start-up, scheduling, result passing). Timings
depend on what else runs on the machine: say so when quoting them.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
from pathlib import Path

from analogist.batch import plan_outputs, read_jobs, run_batch
from analogist.data import example_path

PAIRS = [
    ("cat.jpg", "cat_painting.jpg"),
    ("astronaut.jpg", "coffee.jpg"),
    ("rocket.jpg", "swirls.jpg"),
    ("cat_painting.jpg", "cat.jpg"),
]


def write_jobs(path: Path, n: int, size: int) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "method", "a", "b", "size"])
        for i in range(n):
            a, b = PAIRS[i % len(PAIRS)]
            w.writerow([f"job-{i:03d}", "buddies", example_path(a), example_path(b), size])
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--engines", default="local:1,local:2,ray:2", help="engine:workers, comma-separated")
    args = ap.parse_args()
    print(
        f"{args.jobs} buddies jobs at {args.size} px; load average before: {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(f"{'engine':8} {'workers':>7} {'wall s':>8} {'jobs/min':>9} {'job s (median)':>15} {'overhead s/job':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        jobs_csv = write_jobs(Path(tmp) / "jobs.csv", args.jobs, args.size)
        jobs = read_jobs(jobs_csv)
        for spec in args.engines.split(","):
            engine, workers = spec.split(":")
            out = Path(tmp) / f"out-{engine}-{workers}"
            report = run_batch(jobs, plan_outputs(jobs, out, [jobs_csv]), engine=engine, workers=int(workers))
            failed = [r for r in report.results if r.status != "done"]
            if failed:
                raise SystemExit(f"{engine}:{workers}: {len(failed)} jobs did not finish: {failed[0].error}")
            job_s = statistics.median(r.seconds for r in report.results)
            overhead = report.seconds * int(workers) / args.jobs - job_s
            print(
                f"{engine:8} {workers:>7} {report.seconds:>8.1f} {report.jobs_per_minute:>9.1f} {job_s:>15.2f} "
                f"{overhead:>15.2f}   (load average {os.getloadavg()[0]:.1f})"
            )


if __name__ == "__main__":
    main()
