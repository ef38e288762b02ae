"""Background jobs of the web app: a fair queue in front of one worker, owned by the browser that made them.

Jobs run one at a time, each with as many torch threads as cores are free when it starts (see
:mod:`analogist.threads`). The next job is taken from the owner that has had the fewest jobs started, so one user's queue does not starve another's. A job is only
ever removed by its owner, by its age (``ttl`` after it finished) or at shutdown; a full queue
refuses new work instead of dropping old work.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AnalogistError
from ..io import atomic_path
from ..outputs import OutputPlan
from ..tasks import Task, output_names
from ..tasks.progress import Cancelled, JobProgress
from ..threads import limit_threads, threads_for

log = logging.getLogger("analogist")

ZIP_NAME = "results.zip"


class Busy(AnalogistError):
    """The queue or the user's share of it is full: try again later (HTTP 429/503)."""


@dataclass
class Job:
    id: str
    owner: str
    view: Task
    size: int
    options: dict[str, Any]
    inputs: tuple[Path, Path]
    folder: Path
    seq: int
    state: str = "queued"  # queued, running, done, failed, cancelled
    error: str | None = None
    outputs: list[tuple[str, str]] = field(default_factory=list)
    seconds: float | None = None
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: JobProgress | None = None
    names: tuple[str, str] = ("A", "B")  # the uploads' file names, for the page's list of jobs
    created: float = field(default_factory=time.time)  # wall-clock seconds, for the page to show

    @property
    def out(self) -> Path:
        return self.folder / "out"

    def public(self, position: int | None, ahead: int | None) -> dict[str, Any]:
        """The job as the page sees it; ``position`` in the queue (1: next) and ``ahead``, the jobs that
        will run before it, the running one included."""
        p = self.progress
        eta = p.eta() if p and self.state == "running" else None
        return {
            "id": self.id,
            "method": self.view.name,
            "size": self.size,
            "options": self.options,
            "state": self.state,
            "position": position,
            "ahead": ahead,
            "names": list(self.names),
            "created": round(self.created, 1),
            "warnings": list(p.warnings) if p else [],
            "stage": p.label if p else "",
            "fraction": 1.0 if self.state == "done" else (p.fraction if p else 0.0),
            "eta": None if eta is None else round(eta, 1),
            "error": self.error,
            "seconds": self.seconds,
            "outputs": [{"name": n, "role": r} for n, r in self.outputs],
        }


class JobStore:
    """Queue, worker thread and the jobs' folders under ``root``.

    Args:
        per_owner: jobs one browser may have queued or running at once.
        max_queued: jobs waiting over all browsers.
        max_stored: jobs kept in all (finished ones until ``ttl``); beyond it new jobs are refused.
        ttl: seconds a finished job's results are kept.
        remove_root: delete ``root`` itself on :meth:`close` (a temporary work folder).
    """

    def __init__(
        self,
        root: Path,
        *,
        per_owner: int = 3,
        max_queued: int = 32,
        max_stored: int = 500,
        ttl: float = 6 * 3600,
        remove_root: bool = False,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.threads = threads  # None: each job takes the cores free when it starts (one job at a time)
        self.device = str(device)  # where the methods compute (the web command's --device)
        self.root.mkdir(parents=True, exist_ok=True)
        self.per_owner, self.max_queued, self.max_stored = per_owner, max_queued, max_stored
        self.ttl, self.remove_root = ttl, remove_root
        self._jobs: dict[str, Job] = {}
        self._started: dict[str, int] = {}  # owner -> jobs started, for fairness
        self._seq = 0
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._loop, name="analogist-job", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------------------- submission
    def new_folder(self) -> Path:
        """A fresh folder for one submission's uploads (named independently of the job id)."""
        folder = self.root / secrets.token_hex(12)
        folder.mkdir()
        return folder

    def submit(
        self,
        owner: str,
        view: Task,
        size: int,
        options: dict[str, Any],
        inputs: tuple[Path, Path],
        folder: Path,
        names: tuple[str, str] = ("A", "B"),
    ) -> Job:
        with self._cond:
            self._expire()
            mine = sum(1 for j in self._jobs.values() if j.owner == owner and j.state in ("queued", "running"))
            if mine >= self.per_owner:
                raise Busy(f"you have {mine} jobs waiting or running: wait for one to finish or cancel it")
            if sum(1 for j in self._jobs.values() if j.state == "queued") >= self.max_queued:
                raise Busy(f"the server has {self.max_queued} jobs waiting: try again in a few minutes")
            if len(self._jobs) >= self.max_stored:  # refuse new work rather than drop someone's results
                raise Busy("the server holds as many results as it keeps: try again later")
            self._seq += 1
            job = Job(secrets.token_urlsafe(18), owner, view, size, options, inputs, folder, self._seq, names=names)
            self._jobs[job.id] = job
            self._cond.notify_all()
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        """The job, if it exists and belongs to ``owner`` (anyone else sees nothing)."""
        with self._cond:
            job = self._jobs.get(job_id)
        return job if job is not None and secrets.compare_digest(job.owner, owner) else None

    def status(self, job: Job) -> dict[str, Any]:
        with self._cond:
            order = self._queue_order()
            position = order.index(job) + 1 if job in order else None
            running = sum(1 for j in self._jobs.values() if j.state == "running")
        return job.public(position, None if position is None else position - 1 + running)

    def cancel(self, job: Job) -> None:
        """Stop a queued or running job (a running one stops at its next progress step)."""
        with self._cond:
            if job.state == "queued":
                job.state, job.error = "cancelled", "cancelled"
                job.finished_at = time.monotonic()
            elif job.state == "running":
                job.cancel.set()

    def jobs_of(self, owner: str) -> list[Job]:
        """``owner``'s jobs, oldest first: waiting, running and finished ones until they expire."""
        with self._cond:
            self._expire()
            return sorted(
                (j for j in self._jobs.values() if secrets.compare_digest(j.owner, owner)), key=lambda j: j.seq
            )

    def wait(self, job: Job, timeout: float) -> None:
        """Block until ``job`` has finished (tests and scripts)."""
        end = time.monotonic() + timeout
        while job.state in ("queued", "running") and time.monotonic() < end:
            time.sleep(0.05)

    # ----------------------------------------------------------------------------------- worker
    def _queue_order(self) -> list[Job]:
        queued = [j for j in self._jobs.values() if j.state == "queued"]
        return sorted(queued, key=lambda j: (self._started.get(j.owner, 0), j.seq))

    def _expire(self) -> None:
        now = time.monotonic()
        for job in [j for j in self._jobs.values() if j.finished_at is not None and now - j.finished_at > self.ttl]:
            del self._jobs[job.id]
            shutil.rmtree(job.folder, ignore_errors=True)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._queue_order():
                    self._cond.wait()
                if self._closed:
                    return
                job = self._queue_order()[0]
                self._started[job.owner] = self._started.get(job.owner, 0) + 1
                job.progress = JobProgress(
                    job.view.stages(job.size, job.options), job.cancel, estimate=job.view.estimates
                )
                job.state = "running"
            self._run(job)

    def _run(self, job: Job) -> None:
        limit_threads(self.threads or threads_for(1))
        start = time.perf_counter()
        try:
            a, b = job.view.load_inputs(job.inputs[0], job.inputs[1], job.size)
            outputs = job.view.outputs(job.options)
            plan = OutputPlan.folder(job.out, output_names(job.view, job.options) + [ZIP_NAME], inputs=list(job.inputs))
            with plan:
                job.view.run(a, b, {**job.options, "device": self.device}, plan, job.progress)
                with atomic_path(plan.path(ZIP_NAME)) as tmp, zipfile.ZipFile(tmp, "w") as zf:
                    for name, _ in outputs:
                        zf.write(plan.path(name), name)  # where the run wrote it (staged until the plan commits)
            job.outputs = outputs + [(ZIP_NAME, "file")]
            job.state = "done"
        except Cancelled:
            job.state, job.error = "cancelled", "cancelled"
        except AnalogistError as exc:
            job.state, job.error = "failed", str(exc)
        except MemoryError:
            job.state, job.error = "failed", "out of memory: try a smaller size"
        except Exception:  # a bug: keep the server alive, log the traceback, tell the page without internals
            log.exception("web job %s failed", job.id)
            job.state, job.error = (
                "failed",
                "the job failed because of an internal error (the server log has the details)",
            )
        finally:
            job.seconds = round(time.perf_counter() - start, 2)
            job.finished_at = time.monotonic()

    def close(self) -> None:
        """Stop the worker (cancelling a running job) and remove a temporary work folder."""
        with self._cond:
            self._closed = True
            for job in self._jobs.values():
                job.cancel.set()
            self._cond.notify_all()
        self._worker.join(timeout=30)
        if self.remove_root:
            shutil.rmtree(self.root, ignore_errors=True)
