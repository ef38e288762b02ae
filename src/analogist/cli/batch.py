"""``analogist batch``: run a csv of jobs on this machine or a Ray cluster, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_device, int_in

EPILOG = """job list columns: method, a, b (image paths relative to the csv), optional id (output folder name),
size and the method's options by name (an empty cell takes the default):
{tasks}
A rerun skips finished jobs (OUTDIR/<id>/job.json) and retries failed ones. Exit code 1 when a job failed."""


def register(sub: argparse._SubParsersAction) -> None:
    from ..batch.engines import ENGINES
    from ..tasks import TASKS

    tasks = "\n".join(f"  {t.name}: size{''.join(', ' + o.name for o in t.options)}" for t in TASKS.values())
    p = sub.add_parser(
        "batch",
        help="run a csv of jobs (resumable; local processes or a Ray cluster)",
        description="Run every row of JOBS.csv; each job's outputs go to their own folder "
        "OUTDIR/<id>, written atomically; results.csv lists every job.",
        epilog=EPILOG.format(tasks=tasks),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("jobs", metavar="JOBS.csv", help="the job list")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: processes on this machine; ray: a Ray cluster (needs the 'batch' extra)",
    )
    p.add_argument(
        "--address", default=None, help="Ray cluster address (e.g. 10.0.0.5:6379 or auto); default: start a local one"
    )
    p.add_argument(
        "--workers",
        type=int_in(1, 1024),
        default=1,
        help="jobs running at once (local: processes sharing the cores; ray: one CPU each); default 1",
    )
    p.add_argument(
        "--threads",
        type=int_in(1, 1024),
        default=None,
        help="torch threads per local worker (default: the cores divided among the workers, so they do not "
        "oversubscribe them; Ray gives each job one CPU)",
    )
    add_device(p)
    p.set_defaults(func=run)


def format_summary(report, outdir: Path) -> str:
    """The table printed at the end (also what the README shows)."""
    lines = [
        f"{'done':>8} {'failed':>8} {'skipped':>8} {'seconds':>9} {'jobs/min':>9}",
        f"{report.count('done'):>8} {report.count('failed'):>8} {report.count('skipped'):>8} "
        f"{report.seconds:>9.1f} {report.jobs_per_minute:>9.1f}   ({report.engine}, {report.workers} worker(s))",
    ]
    failed = [r for r in report.results if r.status == "failed"]
    for r in failed[:20]:
        lines.append(f"failed {r.id}: {r.error}")
    if len(failed) > 20:
        lines.append(f"... and {len(failed) - 20} more failed jobs")
    lines.append(f"results: {outdir / 'results.csv'}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..batch import plan_outputs, read_jobs, run_batch

    if args.address is not None and args.engine != "ray":
        from ..errors import InputError

        raise InputError("--address applies to --engine ray only")
    jobs = read_jobs(args.jobs)
    plan = plan_outputs(jobs, args.output, [args.jobs])
    report = run_batch(
        jobs,
        plan,
        engine=args.engine,
        workers=args.workers,
        address=args.address,
        device=str(args.device),
        threads=args.threads,
        progress=args.progress,
    )
    if not args.quiet or report.count("failed"):  # quiet: the summary only to list failed jobs
        print(format_summary(report, Path(args.output)))
    return 1 if report.count("failed") else 0
