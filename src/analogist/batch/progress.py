"""The running jobs' stage progress, from the worker processes (local or Ray) to the batch's bar.

A worker's :class:`FileProgress` writes its job's stage and overall fraction to ``OUTDIR/.<id>.progress``
(atomically, at most twice a second); :class:`Watcher`, a thread beside the batch's bar, reads those files
and shows ``done + sum of the running fractions`` as the bar's count with the running jobs' stages. Files
are the one channel every engine shares: Ray's workers already need the output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..tasks.progress import JobProgress, Weight

#: Seconds between two writes of a job's progress file, and between two refreshes of the bar.
INTERVAL = 0.5


def progress_file(outdir: str | Path, job_id: str) -> Path:
    return Path(outdir) / f".{job_id}.progress"


class FileProgress(JobProgress):
    """:class:`JobProgress` that also publishes its stage and fraction to ``path``."""

    def __init__(self, weights: Sequence[Weight], path: Path) -> None:
        super().__init__(weights)
        self.path = path
        self._written = 0.0

    def enter(self, desc: str, total: int | None) -> None:
        super().enter(desc, total)
        self._publish()

    def step(self, i: int) -> None:
        super().step(i)
        self._publish()

    def _publish(self) -> None:
        now = time.monotonic()
        if now - self._written < INTERVAL:
            return
        self._written = now
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):  # progress is a courtesy: a full disk must not fail the job
            tmp.write_text(json.dumps({"stage": self.label, "fraction": round(self.fraction, 3)}), encoding="utf-8")
            os.replace(tmp, self.path)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def read_progress(path: Path) -> tuple[str, float] | None:
    """``(stage, fraction)`` of a running job, None when it has not reported (or has finished)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["stage"]), float(data["fraction"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Watcher:
    """Refreshes ``bar`` (a tqdm bar, or anything with ``set_postfix_str``) from the running jobs' files.

    ``pending()`` names the jobs not finished yet and ``finished()`` counts those that are.
    """

    def __init__(
        self, bar: Any, outdir: Path, pending: Callable[[], Iterable[str]], finished: Callable[[], int]
    ) -> None:
        while hasattr(bar, "_inner"):  # analogist.progress.timed wraps the bar it draws with
            bar = bar._inner
        self._bar, self._outdir = bar, outdir
        self._pending, self._finished = pending, finished
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="analogist-batch-progress", daemon=True)

    def __enter__(self) -> Watcher:
        if hasattr(self._bar, "set_postfix_str"):  # a silent progress has nothing to draw on
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def line(self) -> tuple[float, str]:
        """``(jobs done, counting running ones by their fraction; the running jobs' stages)``."""
        running = []
        for job_id in list(self._pending()):
            seen = read_progress(progress_file(self._outdir, job_id))
            if seen is not None:
                running.append((job_id, *seen))
        text = " · ".join(f"{i}: {stage} {fraction:.0%}" for i, stage, fraction in running[:3])
        if len(running) > 3:
            text += f" · {len(running) - 3} more running"
        return self._finished() + sum(f for _, _, f in running), text

    def _loop(self) -> None:
        while not self._stop.wait(INTERVAL):
            count, text = self.line()
            with contextlib.suppress(Exception):  # a bar closed under us: nothing left to draw
                self._bar.n = round(count, 2)
                self._bar.set_postfix_str(text, refresh=True)
