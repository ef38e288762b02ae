"""Run a job list: skip what is finished, run the rest on an engine, write ``results.csv``."""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..outputs import OutputPlan
from ..progress import Progress, silent
from .engines import map_unordered
from .progress import Watcher
from .spec import BatchJob
from .worker import JobResult, finished, run_job

RESULTS = "results.csv"
COLUMNS = ("id", "method", "status", "seconds", "error", "outputs", "host")


@dataclass
class BatchReport:
    results: list[JobResult]  # in the csv's order; "pending" for jobs an interruption stopped
    seconds: float
    engine: str
    workers: int

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def jobs_per_minute(self) -> float:
        ran = self.count("done") + self.count("failed")
        return 60.0 * ran / self.seconds if self.seconds > 0 else 0.0


def plan_outputs(jobs: Sequence[BatchJob], outdir: str | Path, inputs: Sequence[str | Path]) -> OutputPlan:
    """Every path the batch will write, checked against every input before anything runs."""
    names = [RESULTS] + [f"{j.id}/{n}" for j in jobs for n in (*j.outputs(), "job.json")]
    return OutputPlan.folder(outdir, names, inputs=[*inputs, *(p for j in jobs for p in (j.a, j.b) if p)])


def results_csv(results: Sequence[JobResult]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow(r.row())
    return buf.getvalue()


def _sweep(outdir: Path, ids: Sequence[str]) -> None:
    """Remove temporary job folders and progress files that workers killed mid-job (or out of retries)
    left behind."""
    for job_id in ids:
        for stale in [*outdir.glob(f".{job_id}.part-*"), *outdir.glob(f".{job_id}.progress*")]:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def run_batch(
    jobs: Sequence[BatchJob],
    plan: OutputPlan,
    *,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    progress: Progress = silent,
) -> BatchReport:
    """Run ``jobs`` into ``plan.root``; ``results.csv`` is written at the end, also after Ctrl-C.

    Finished jobs (see :func:`analogist.batch.worker.finished`) are skipped, so a rerun after a crash
    or an interruption does nothing twice and loses nothing; their rows keep the earlier run's outputs,
    seconds and host. ``threads``: torch threads per local worker (default: the cores shared out).
    """
    outdir = plan.root
    start = time.perf_counter()
    results = [finished(j, outdir) or JobResult(j.id, j.method, "pending") for j in jobs]
    todo = [i for i, r in enumerate(results) if r.status == "pending"]
    # a Ray job has one CPU: one torch thread (threads that wait on a busy machine's other work made a
    # job 17x slower); local workers take the threads their engine gives them (0)
    calls = [(jobs[i], str(outdir), 1 if engine == "ray" else 0, str(device)) for i in todo]

    def lost(k: int, message: str) -> JobResult:
        return JobResult(jobs[todo[k]].id, jobs[todo[k]].method, "failed", error=message)

    with plan:
        pass  # creates the output folder; each job writes through its own plan, so none undoes another's
    try:
        done = map_unordered(
            run_job, calls, engine=engine, workers=workers, address=address, on_lost=lost, threads=threads
        )
        bar = progress(done, total=len(calls), desc=f"batch ({engine}, {workers} worker(s))")
        waiting, ended = [jobs[i].id for i in todo], set()
        with Watcher(bar, outdir, lambda: [i for i in waiting if i not in ended], lambda: len(ended)):
            for k, result in bar:
                results[todo[k]] = result
                ended.add(result.id)
    finally:
        _sweep(outdir, [jobs[i].id for i in todo])
        # written even when interrupted: the finished jobs are on disk and listed
        with OutputPlan.file(outdir / RESULTS, inputs=plan.inputs) as out:
            out.save_text(None, results_csv(results))
    return BatchReport(results, time.perf_counter() - start, engine, workers)
