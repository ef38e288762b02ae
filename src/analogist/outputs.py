"""The output-safety rule, enforced in one place for every front end.

A command first declares every path it will write (an :class:`OutputPlan`); the plan refuses, before
anything is computed or written, any path that resolves (symlinks and hard links followed) to one of the
command's inputs or to an existing file inside an input folder, a file where a folder must go and the
reverse, and a location the user cannot write. Writing then happens inside ``with plan:``: each file is
written atomically, and if the block fails or is interrupted every file and folder this run created is
removed again, so a failed run leaves nothing behind.

Example::

    plan = OutputPlan.folder("out", ["result.png", "report.json"], inputs=[content, style])
    image = expensive_method(...)              # nothing exists on disk yet
    with plan:
        plan.save_image("result.png", image)
        plan.write_json("report.json", {"ok": True})
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import numpy as np
import torch

from . import io
from .errors import InputError, OutputError

PathLike = str | os.PathLike


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # symlink loops, unreadable components
        return path.absolute()


def _same_file(a: Path, b: Path) -> bool:
    if _resolve(a) == _resolve(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    try:
        _resolve(path).relative_to(_resolve(folder))
        return True
    except ValueError:
        return False


def _nearest_existing(path: Path) -> Path:
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


class OutputPlan:
    """Every path one run will write, checked against its inputs before anything is written.

    Build one with :meth:`folder` (a command writing several files into a folder) or :meth:`file`
    (a command writing one file), then write through it inside ``with plan:``.
    """

    def __init__(self, root: PathLike, names: Iterable[str | None], inputs: Sequence[PathLike], *, single: bool):
        if not os.fspath(root).strip():
            raise InputError("the output path is empty: give a file or folder name")
        self.root = Path(root)
        self.single = single
        self.inputs = [Path(p) for p in inputs if p is not None]
        self._files: dict[str | None, Path] = {}
        self._created_dirs: list[Path] = []
        self._written: list[Path] = []
        self._active = False
        self._check_root()
        self.add(names)

    @classmethod
    def folder(cls, outdir: PathLike, names: Iterable[str], inputs: Sequence[PathLike] = ()) -> OutputPlan:
        """Plan files ``names`` (relative, ``/``-separated) inside the folder ``outdir``."""
        return cls(outdir, names, inputs, single=False)

    @classmethod
    def file(cls, path: PathLike, inputs: Sequence[PathLike] = ()) -> OutputPlan:
        """Plan the single file ``path``; write it with name ``None``."""
        return cls(path, [None], inputs, single=True)

    # ------------------------------------------------------------------------------------- checks

    def _check_root(self) -> None:
        folder = self.root.parent if self.single else self.root
        if not self.single:
            for inp in self.inputs:
                if _same_file(folder, inp) and not inp.is_dir():
                    raise InputError(f"output folder {folder} is also an input")
        self._check_folder(folder)

    def _check_folder(self, folder: Path) -> None:
        for part in folder.absolute().parts:
            if len(os.fsencode(part)) > 255:
                raise InputError(f"output path {folder} has a name longer than the file system allows (255 bytes)")
        if os.path.lexists(folder) and not folder.is_dir():
            raise InputError(f"output folder {folder} exists and is not a folder")
        base = _nearest_existing(folder)
        if not base.is_dir():
            raise InputError(f"cannot create output folder {folder}: {base} is not a folder")
        if not os.access(base, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write to {base}: permission denied")
        # access() says yes to root on read-only mounts and in /proc: only a real write tells
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".analogist-probe-", dir=base))
        except OSError as exc:
            raise os_error("write to", base, exc) from None

    def _check_file(self, path: Path) -> None:
        if len(os.fsencode(path.name)) > 255:
            raise InputError(f"output name {path.name[:40]}... is longer than the file system allows (255 bytes)")
        if path.is_dir():
            raise InputError(f"output {path} is a folder: give a file name")
        for inp in self.inputs:
            clash = _same_file(path, inp) or (inp.is_dir() and path.exists() and _inside(path, inp))
            if clash:
                what = "output folder" if not self.single else "output"
                raise InputError(
                    f"{path} is an input and would be overwritten by this command's {what}: "
                    "choose another output (inputs are never overwritten)"
                )

    def add(self, names: Iterable[str | None]) -> OutputPlan:
        """Plan more files (before they are written); each is checked like the first ones."""
        for name in names:
            if name in self._files:
                continue
            if name is None:
                if not self.single:
                    raise ValueError("a folder plan needs file names")
                path = self.root
            else:
                rel = PurePosixPath(name)
                if self.single or rel.is_absolute() or ".." in rel.parts or not rel.parts:
                    raise ValueError(f"invalid planned output name {name!r}")
                path = self.root.joinpath(*rel.parts)
                if path.parent != self.root:
                    self._check_folder(path.parent)
            self._check_file(path)
            self._files[name] = path
        return self

    # ------------------------------------------------------------------------------------ writing

    @property
    def paths(self) -> list[Path]:
        """Every planned file path."""
        return list(self._files.values())

    def path(self, name: str | None = None) -> Path:
        """The planned path of ``name``; writing a path that was not planned is a bug."""
        if name not in self._files:
            raise KeyError(f"{name!r} is not a planned output of this command")
        path = self._files[name]
        if self._active:
            self._make_dirs(path.parent)
            self._written.append(path)
        return path

    def _make_dirs(self, folder: Path) -> None:
        missing = []
        p = folder
        while not os.path.lexists(p) and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise os_error("create folder", d, exc) from None
            self._created_dirs.append(d)

    def __enter__(self) -> OutputPlan:
        self._active = True
        self._make_dirs(self.root.parent if self.single else self.root)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._active = False
        if exc_type is not None:
            self.discard()

    def discard(self) -> None:
        """Remove what this run wrote and the folders it created (those left empty)."""
        for path in reversed(self._written):
            try:
                path.unlink()
            except OSError:
                pass
        for d in reversed(self._created_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        self._written.clear()
        self._created_dirs.clear()

    def _write(self, action: str, name: str | None, fn: Any, *args: Any, **kwargs: Any) -> Path:
        if not self._active:
            raise RuntimeError("write outputs inside `with plan:`")
        path = self.path(name)
        try:
            return fn(path, *args, **kwargs)
        except OutputError:
            raise
        except OSError as exc:
            raise os_error(action, path, exc) from None

    def save_image(self, name: str | None, image: torch.Tensor | np.ndarray) -> Path:
        return self._write("write", name, io.save_image, image)

    def save_text(self, name: str | None, text: str) -> Path:
        return self._write("write", name, io.save_text, text)

    def write_json(self, name: str | None, data: Any) -> Path:
        return self.save_text(name, json.dumps(data, indent=2, default=str) + "\n")

    def write_flo(self, name: str | None, flow: torch.Tensor | np.ndarray) -> Path:
        return self._write("write", name, io.write_flo, flow)

    def save_animation(self, name: str | None, frames: Sequence[np.ndarray | torch.Tensor], fps: float = 12.0) -> Path:
        return self._write("write", name, io.save_animation, frames, fps)
