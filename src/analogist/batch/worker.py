"""One batch job, as any engine runs it: a pure function of the job and the output folder.

A job writes into a hidden temporary folder beside its final one, through an
:class:`analogist.outputs.OutputPlan`, and ``job.json`` last; the folder is then renamed into place in
one step. A job is finished exactly when ``OUTDIR/<id>/job.json`` exists and records the same job, so
a crash, a killed worker or Ctrl-C never leaves a half-finished job that a rerun would skip.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AnalogistError
from ..outputs import OutputPlan
from ..tasks import get_task
from .progress import FileProgress, progress_file
from .spec import BatchJob

log = logging.getLogger("analogist")
RECORD = "job.json"


@dataclass
class JobResult:
    id: str
    method: str
    status: str  # done, failed, skipped
    seconds: float = 0.0
    error: str = ""
    outputs: list[str] = field(default_factory=list)
    host: str = ""

    def row(self) -> dict[str, str]:
        return {
            "id": self.id,
            "method": self.method,
            "status": self.status,
            "seconds": f"{self.seconds:.2f}",
            "error": self.error,
            "outputs": " ".join(self.outputs),
            "host": self.host,
        }


def finished(job: BatchJob, outdir: str | Path) -> JobResult | None:
    """``job``'s earlier result (status ``skipped``, with the outputs, seconds and host it recorded) when it
    already has a complete one under ``outdir`` (same method, inputs and options); None otherwise."""
    record = Path(outdir) / job.id / RECORD
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        if {k: saved.get(k) for k in job.record()} != json.loads(json.dumps(job.record())):
            return None
        return JobResult(
            job.id,
            job.method,
            "skipped",
            seconds=float(saved.get("seconds") or 0.0),
            outputs=[str(n) for n in saved.get("outputs") or []],
            host=str(saved.get("host") or ""),
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def run_job(job: BatchJob, outdir: str, threads: int = 0, device: str = "cpu") -> JobResult:
    """Run ``job`` and move its outputs into ``outdir/<id>``; errors become a failed result, never an exception.
    ``device``: where the job's method computes (``cpu``, ``cuda``, ``cuda:N``); ``threads``: torch's
    threads (0: as the engine set them). The job's stage and fraction go to its progress file meanwhile."""
    if threads:
        from ..threads import limit_threads

        limit_threads(threads)
    start = time.perf_counter()
    result = JobResult(job.id, job.method, "failed", host=socket.gethostname())
    if job.error is not None:
        result.error = job.error
        return result
    final = Path(outdir) / job.id
    # a worker killed mid-job (Ray retries it here) could not remove its own temporary folder
    for stale in Path(outdir).glob(f".{job.id}.part-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(outdir) / f".{job.id}.part-{secrets.token_hex(4)}"
    progress = None
    try:
        task = get_task(job.method)
        options = dict(job.options)
        progress = FileProgress(task.stages(job.size, options), progress_file(outdir, job.id))
        a, b = task.load_inputs(Path(job.a), Path(job.b), job.size)
        names = job.outputs()
        plan = OutputPlan.folder(tmp, [*names, RECORD], inputs=[job.a, job.b])
        with plan:
            task.run(a, b, {**options, "device": device}, plan, progress)
            result.seconds = round(time.perf_counter() - start, 3)
            plan.write_json(
                RECORD,
                {
                    **job.record(),
                    "outputs": names,
                    "seconds": result.seconds,
                    "host": result.host,
                    "warnings": progress.warnings,
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                },
            )
        if final.exists():  # a stale result of a different job under this id: replaced whole
            shutil.rmtree(final)
        os.replace(tmp, final)
        result.status, result.outputs = "done", names
    except AnalogistError as exc:
        result.error = _one_line(exc)
    except MemoryError:
        result.error = "out of memory: try a smaller size"
    except Exception as exc:  # a bug in a method: one line in results.csv, the traceback in the log
        log.debug("job %s failed", job.id, exc_info=True)
        result.error = f"internal error: {_one_line(exc)}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if progress is not None:
            progress.remove()
    result.seconds = round(time.perf_counter() - start, 3)
    return result


__all__ = ["RECORD", "JobResult", "finished", "run_job"]
