"""Background jobs of the web app: a queue of one worker, state that the page polls."""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TypeVar

from ..errors import AnalogistError
from .tasks import TASKS

log = logging.getLogger("analogist")
T = TypeVar("T")


@dataclass
class Job:
    id: str
    method: str
    folder: Path
    state: str = "queued"  # queued, running, done, failed
    step: str = ""
    done: int = 0
    total: int | None = None
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float | None = None

    def public(self) -> dict:
        return {"id": self.id, "method": self.method, "state": self.state, "step": self.step, "done": self.done,
                "total": self.total, "outputs": self.outputs, "error": self.error, "seconds": self.seconds}


class JobStore:
    """Runs jobs one after another and remembers the most recent ``keep`` of them (older folders are removed)."""

    def __init__(self, root: Path, keep: int = 20) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analogist-job")

    def create(self, method: str) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], method=method, folder=self.root / uuid.uuid4().hex[:12])
        job.folder.mkdir()
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                old = self._jobs.pop(next(iter(self._jobs)))
                shutil.rmtree(old.folder, ignore_errors=True)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, job: Job, path_a: Path, path_b: Path, size: int) -> None:
        self._pool.submit(self._run, job, path_a, path_b, size)

    def wait(self, job: Job, timeout: float) -> None:
        """Block until ``job`` has finished (tests and scripts)."""
        end = time.monotonic() + timeout
        while job.state in ("queued", "running") and time.monotonic() < end:
            time.sleep(0.05)

    def _run(self, job: Job, path_a: Path, path_b: Path, size: int) -> None:
        task = TASKS[job.method][0]
        job.state = "running"
        start = time.perf_counter()

        def progress(iterable: Iterable[T], *, total: int | None = None, desc: str | None = None) -> Iterable[T]:
            job.step, job.done = desc or "", 0
            job.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
            for item in iterable:
                yield item
                job.done += 1

        try:
            outdir = job.folder / "out"
            outdir.mkdir(exist_ok=True)
            written = task(path_a, path_b, size, outdir, progress)
            job.outputs = [p.name for p in written]
            job.state = "done"
        except AnalogistError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:  # a bug: keep the server alive, log the traceback, tell the page
            log.exception("job %s failed", job.id)
            job.error, job.state = f"internal error: {type(exc).__name__}: {exc}", "failed"
        finally:
            job.seconds = round(time.perf_counter() - start, 2)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
