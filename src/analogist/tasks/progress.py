"""One overall progress figure and an honest time estimate for a task's run (web jobs and batch workers).

A run reports through nested :class:`analogist.progress.Progress` loops. :class:`JobProgress` folds them
into one fraction using the task's stage weights, and estimates the time left only from what this run
has measured: the seconds its finished steps took against the share of the work they were. It shows no
estimate until a tenth of the work is done, so an early guess from start-up costs is never displayed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
#: A stage's weight: its relative cost, or one relative cost per step of its loop (coarse-to-fine loops,
#: whose later steps cost more).
Weight = float | Sequence[float]
#: The share of the work that must be done before any estimate is shown.
MIN_FRACTION = 0.1


class Cancelled(Exception):
    """Raised inside a job's thread at its next progress step once the user pressed cancel."""


class JobProgress:
    """A :class:`analogist.progress.Progress` that folds a run's stages into one fraction and an estimate.

    ``weights`` are the relative costs of the run's top-level stages (each a call of the progress
    function), in order; a loop opened inside another (PatchMatch inside a level) only renames the stage.
    Extra stages beyond the weights keep the bar at 99 % until the run ends. ``clock`` is injectable so a
    recorded run can be replayed (tests); ``estimate=False`` never gives a time (the task's weights are too
    rough for one).
    """

    def __init__(
        self,
        weights: Sequence[Weight],
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        estimate: bool = True,
    ) -> None:
        stages = [list(w) if isinstance(w, Sequence) else [float(w)] for w in weights] or [[1.0]]
        total = sum(sum(s) for s in stages) or 1.0
        self._stages = [[w / total for w in s] for s in stages]
        self._cancel = cancel or threading.Event()
        self._clock = clock
        self._estimate = estimate  # False: the weights are too rough to turn into seconds
        self._stage = 0  # top-level stages finished
        self._depth = 0
        self._step, self._steps = 0, 1  # the top-level loop's steps done and its length
        self._t0: float | None = None  # when the first loop began: start-up is not the work measured
        self._mark: tuple[float, float] | None = None  # (time, fraction) at the last finished step
        self.label = "loading the images and the network"
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ the Progress protocol
    def __call__(self, iterable: Iterable[T], *, total: int | None = None, desc: str | None = None) -> Iterable[T]:
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        return self._run(iterable, total, desc or "working")

    def _run(self, iterable: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
        self.enter(desc, total)
        try:
            for i, item in enumerate(iterable):
                self.check()
                if i:
                    self.step(i)
                yield item
            self.check()
        finally:
            self.leave()

    # ------------------------------------------------------------------ events (also replayed by tests)
    def enter(self, desc: str, total: int | None) -> None:
        """A loop begins; at the top level it is the next stage."""
        if self._t0 is None:
            self._t0 = self._clock()
        self._depth += 1
        self.label = desc
        if self._depth == 1:
            self._step, self._steps = 0, max(1, total or 1)

    def step(self, i: int) -> None:
        """Step ``i`` of the current loop begins (so ``i`` steps are finished)."""
        if self._depth == 1:
            self._step = min(i, self._steps)
            self._measure()

    def leave(self) -> None:
        """The current loop ended (or stopped)."""
        self._depth -= 1
        if self._depth == 0:
            self._stage += 1
            self._step = 0
            self._measure()

    def warn(self, message: str) -> None:
        """A note for the user about the result (weak correspondences, ...), shown beside it."""
        if message not in self.warnings:
            self.warnings.append(message)

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled

    # ------------------------------------------------------------------ figures
    def _done(self, stage: int, step: int) -> float:
        """Share of the work finished after ``step`` steps of top-level stage ``stage``."""
        done = sum(sum(s) for s in self._stages[:stage])
        step = min(step, self._steps)
        if stage < len(self._stages) and step:
            ws = self._stages[stage]
            if len(ws) > self._steps:  # a coarse-to-fine loop that skipped its coarsest steps (small images)
                ws = ws[-self._steps :]
            done += sum(ws[:step]) if len(ws) > 1 else ws[0] * step / self._steps
        return done

    def _measure(self) -> None:
        self._mark = (self._clock(), min(self._done(self._stage, self._step), 1.0))

    @property
    def fraction(self) -> float:
        return min(self._done(self._stage, self._step), 0.99)

    def eta(self) -> float | None:
        """Seconds left, from this run's measured rate; None until a tenth of the work is done."""
        if not self._estimate or self._t0 is None or self._mark is None:
            return None
        t_mark, f_mark = self._mark
        if f_mark < MIN_FRACTION or t_mark <= self._t0 or self._stage >= len(self._stages):
            return None
        now = self._clock()
        rate = (t_mark - self._t0) / f_mark  # seconds per unit of work, as measured so far
        f_next = min(self._done(self._stage, self._step + 1), 1.0)  # done once the step under way ends
        # a step that outlasts its share says the rate is at least the time so far over the work it completes
        rate = max(rate, (now - self._t0) / f_next)
        since = now - t_mark
        # the step under way: its share at that rate, or, once overdue, about half as long again as it has run
        step = max(rate * (f_next - f_mark) - since, 0.5 * since)
        return step + rate * (1.0 - f_next)


def replay(
    events: Sequence[Sequence], weights: Sequence[Weight], samples: int = 4, estimate: bool = True
) -> list[tuple[float, float | None, float]]:
    """Replay a recorded run (``benchmarks/eta_traces.py``: rows ``[seconds, "enter", desc, total]``,
    ``[seconds, "step", i]``, ``[seconds, "leave"]``, last ``[seconds, "end"]``) on a fake clock.

    Returns ``(seconds, estimate, real seconds left)`` at ``samples`` instants between each two events."""
    now = [0.0]
    progress = JobProgress(weights, clock=lambda: now[0], estimate=estimate)
    end = float(events[-1][0])
    out: list[tuple[float, float | None, float]] = []
    for row, nxt in zip(events, events[1:]):
        now[0] = t = float(row[0])
        if row[1] == "enter":
            progress.enter(str(row[2]), row[3])
        elif row[1] == "step":
            progress.step(int(row[2]))
        elif row[1] == "leave":
            progress.leave()
        for j in range(samples):
            now[0] = t + (float(nxt[0]) - t) * j / samples
            out.append((now[0], progress.eta(), end - now[0]))
    return out
