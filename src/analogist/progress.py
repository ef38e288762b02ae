"""Progress reporting that the core can accept without printing anything itself.

Long-running functions take ``progress: Progress = silent`` and wrap their loops in it; front ends
pass :func:`terminal`, which draws a bar on a terminal and stays quiet when stderr is piped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Protocol, TypeVar

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
