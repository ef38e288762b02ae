"""One overall progress figure for a web job, made from the bars a method draws stage by stage."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside a job's thread at its next progress step once the user pressed cancel."""


class JobProgress:
    """A :class:`analogist.progress.Progress` that folds a run's stages into one fraction.

    ``weights`` are the expected relative costs of the run's top-level stages (each a call of the
    progress function); a loop opened inside another (e.g. PatchMatch inside a level) only renames
    the stage. Extra stages beyond the weights keep the bar at 99 % until the run ends.
    """

    def __init__(self, weights: Sequence[float], cancel: threading.Event) -> None:
        total = float(sum(weights)) or 1.0
        self._weights = [w / total for w in weights] or [1.0]
        self._cancel = cancel
        self._stage = 0  # top-level stages finished
        self._depth = 0
        self._within = 0.0
        self.label = "loading the images and the network"
        self.started = time.monotonic()

    def __call__(self, iterable: Iterable[T], *, total: int | None = None, desc: str | None = None) -> Iterable[T]:
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        return self._run(iterable, total, desc or "working")

    def _run(self, iterable: Iterable[T], total: int | None, desc: str) -> Iterable[T]:
        top = self._depth == 0
        self._depth += 1
        self.label = desc
        if top:
            self._within = 0.0
        try:
            for i, item in enumerate(iterable):
                self.check()
                if top and total:
                    self._within = i / total
                yield item
            self.check()
        finally:
            self._depth -= 1
            if top:
                self._stage += 1
                self._within = 0.0

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled

    @property
    def fraction(self) -> float:
        done = sum(self._weights[: self._stage])
        if self._stage < len(self._weights):
            done += self._weights[self._stage] * self._within
        return min(done, 0.99)

    def eta(self) -> float | None:
        """Seconds left, extrapolated from the time so far (None until there is something to go on)."""
        f = self.fraction
        if f < 0.02:
            return None
        return (time.monotonic() - self.started) * (1.0 - f) / f
