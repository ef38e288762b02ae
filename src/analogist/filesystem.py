"""File-system facts and guards the output plan relies on: paths compared through links, the
nearest existing folder, one-line errors for OS failures, signals held back and a folder locked while a
commit renames files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


def resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # symlink loops, unreadable components
        return path.absolute()


def same_file(a: Path, b: Path) -> bool:
    if resolve(a) == resolve(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def inside(path: Path, folder: Path) -> bool:
    try:
        resolve(path).relative_to(resolve(folder))
        return True
    except ValueError:
        return False


def nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def os_error(action: str, path: Path, exc: OSError) -> OutputError:
    """A one-line :class:`OutputError` for a failed write (read-only, full disk, name too long, ...)."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "the disk is full"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = "the location is read-only or not writable"
    elif exc.errno == errno.ENOENT and path.is_dir():
        # /proc, /sys and similar: the folder exists but its file system makes no new files there
        reason = "its file system does not allow new files there"
    return OutputError(f"cannot {action} {path}: {reason}")


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the few renames of a commit (main thread, POSIX only)."""
    blockable = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    held = {signal.SIGINT, signal.SIGTERM}
    if blockable:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if blockable:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` itself, so two runs committing into it do not interleave their sets."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):  # no fcntl (Windows) or a folder that cannot be opened: commit unlocked
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
