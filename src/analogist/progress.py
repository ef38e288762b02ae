"""Progress reporting that the core can accept without printing anything itself.

Long-running functions take ``progress: Progress = silent`` and wrap their loops in it; front ends
pass :func:`terminal`, which draws a bar on a terminal and stays quiet when stderr is piped, or
:func:`silent`, and may wrap either in :func:`timed` to hear how long each stage took.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    def __call__(self, iterable: Iterable[T], *, total: int | None = None, desc: str | None = None) -> Iterable[T]: ...


def silent(iterable: Iterable[T], *, total: int | None = None, desc: str | None = None) -> Iterable[T]:
    """No reporting: the default for library calls."""
    return iterable


def terminal(iterable: Iterable[T], *, total: int | None = None, desc: str | None = None) -> Iterable[T]:
    """A tqdm bar on stderr when it is a terminal; nothing when piped (CI logs, scripts)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, disable=not sys.stderr.isatty(), dynamic_ncols=True)


class _Timed:
    """``inner`` iterated as it is, reporting the stage's step count and wall time when the loop ends."""

    def __init__(self, inner: Iterable[T], desc: str | None, report: Callable[[str], None]):
        self._inner, self._desc, self._report = inner, desc, report

    def __iter__(self) -> Iterator[T]:
        start, steps = time.perf_counter(), 0
        try:
            for item in self._inner:
                steps += 1
                yield item
        finally:  # also when the loop stops early: a failed stage's time is worth seeing too
            self._report(f"{self._desc or 'stage'}: {steps} step(s) in {time.perf_counter() - start:.2f} s")

    def __getattr__(self, name: str) -> Any:  # the bar's own methods (set_postfix) stay reachable
        return getattr(self._inner, name)


def timed(progress: Progress, report: Callable[[str], None]) -> Progress:
    """``progress`` that also passes ``report`` one line per stage: its name, steps and wall time."""

    def wrap(iterable: Iterable[T], *, total: int | None = None, desc: str | None = None) -> Iterable[T]:
        return _Timed(progress(iterable, total=total, desc=desc), desc, report)

    return wrap
