"""The output-safety rule, enforced in one place for every front end.

A command first declares every path it will write (an :class:`OutputPlan`); the plan refuses, before
anything is computed or written, any path that resolves (symlinks and hard links followed) to one of the
command's inputs or to an existing file inside an input folder, a file where a folder must go and the
reverse, a file name whose extension the command cannot write, and a location the user cannot write.

Writing then happens inside ``with plan:``, into a hidden staging folder beside the outputs. When the
block succeeds every staged file is moved onto its final path by one rename each (signals held back, the
folder locked against a concurrent commit), so a file that was there before is replaced only by a
complete new one. When the block fails or is interrupted (an error, Ctrl-C, SIGTERM turned into an
exception by the CLI) the staging folder and the folders this run created are removed, and nothing that
existed before the run is touched.

Example::

    plan = OutputPlan.folder("out", ["result.png", "report.json"], inputs=[content, style])
    image = expensive_method(...)              # nothing exists on disk yet
    with plan:
        plan.save_image("result.png", image)
        plan.write_json("report.json", {"ok": True})
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import numpy as np
import torch

from . import io
from .errors import InputError, OutputError
from .filesystem import folder_lock, inside, nearest_existing, os_error, resolve, same_file, signals_deferred

PathLike = str | os.PathLike


class OutputPlan:
    """Every path one run will write, checked against its inputs before anything is written.

    Build one with :meth:`folder` (a command writing several files into a folder) or :meth:`file`
    (a command writing one file), then write through it inside ``with plan:``.
    """

    def __init__(
        self,
        root: PathLike,
        names: Iterable[str | None],
        inputs: Sequence[PathLike],
        *,
        single: bool,
        replaces: Sequence[str] = (),
        image: bool = False,
    ):
        if not os.fspath(root).strip():
            raise InputError("the output path is empty: give a file or folder name")
        self.root = Path(root)
        self.single = single
        self.inputs = [Path(p) for p in inputs if p is not None]
        self.replaces = tuple(replaces)
        self._files: dict[str | None, Path] = {}
        self._created_dirs: list[Path] = []
        self._written: list[str | None] = []
        self._staging: Path | None = None
        if image:
            io.image_format(self.root)  # a name that cannot be an image is refused before any work
        self._check_root()
        self.add(names)

    @classmethod
    def folder(
        cls, outdir: PathLike, names: Iterable[str], inputs: Sequence[PathLike] = (), replaces: Sequence[str] = ()
    ) -> OutputPlan:
        """Plan files ``names`` (relative, ``/``-separated) inside the folder ``outdir``.

        ``replaces``: glob patterns (relative to ``outdir``) of this command's set, e.g. numbered frames;
        on success, matching files the new run did not write (an earlier, longer run's) are removed, so the
        folder holds one run's set.
        """
        return cls(outdir, names, inputs, single=False, replaces=replaces)

    @classmethod
    def file(cls, path: PathLike, inputs: Sequence[PathLike] = (), image: bool = False) -> OutputPlan:
        """Plan the single file ``path``; write it with name ``None``. ``image``: its extension must be an image's."""
        return cls(path, [None], inputs, single=True, image=image)

    # ------------------------------------------------------------------------------------- checks

    @property
    def _base(self) -> Path:
        """The folder the outputs land in: the output folder, or a single output file's parent."""
        return self.root.parent if self.single else self.root

    def _check_root(self) -> None:
        folder = self._base
        if not self.single:
            for inp in self.inputs:
                if same_file(folder, inp) and not inp.is_dir():
                    raise InputError(f"output folder {folder} is also an input")
        self._check_folder(folder)

    def _check_folder(self, folder: Path) -> None:
        for part in folder.absolute().parts:
            if len(os.fsencode(part)) > 255:
                raise InputError(f"output path {folder} has a name longer than the file system allows (255 bytes)")
        if os.path.lexists(folder) and not folder.is_dir():
            raise InputError(f"output folder {folder} exists and is not a folder")
        base = nearest_existing(folder)
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
            clash = same_file(path, inp) or (inp.is_dir() and path.exists() and inside(path, inp))
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
        """Every planned file path (where it lands once the run succeeds)."""
        return list(self._files.values())

    @property
    def work_root(self) -> Path:
        """Where the planned files are while the run writes them (the final place outside ``with plan:``)."""
        return self._base if self._staging is None else self._staging

    def path(self, name: str | None = None) -> Path:
        """The path to write ``name`` to: inside ``with plan:`` a staged path, moved into place on success."""
        if name not in self._files:
            raise KeyError(f"{name!r} is not a planned output of this command")
        if self._staging is None:
            return self._files[name]
        staged = self._staged(name)
        staged.parent.mkdir(parents=True, exist_ok=True)
        if name not in self._written:
            self._written.append(name)
        return staged

    def _staged(self, name: str | None) -> Path:
        assert self._staging is not None
        if name is None:
            return self._staging / self.root.name
        return self._staging.joinpath(*PurePosixPath(name).parts)

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
        base = self._base
        self._make_dirs(base)
        prefix = f".{self.root.name[:40]}.analogist-" if self.single else ".analogist-"
        try:
            self._staging = Path(tempfile.mkdtemp(prefix=prefix, suffix=".part", dir=base))
        except OSError as exc:
            self._remove_created_dirs()
            raise os_error("write to", base, exc) from None
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            self._commit()
        except BaseException:
            self.discard()
            raise

    def _commit(self) -> None:
        """Move every staged file onto its final path, each by one rename, under a lock on the folder."""
        # blocked signals wait until the set is in place: a Ctrl-C here would leave half old, half new
        with signals_deferred(), folder_lock(self._base):
            for name in self._written:
                staged, final = self._staged(name), self._files[name]
                if not os.path.lexists(staged):
                    continue
                self._make_dirs(final.parent)
                try:
                    os.replace(staged, final)
                except OSError as exc:
                    raise os_error("write", final, exc) from None
            self._remove_stale()
        self._remove_staging()
        self._written.clear()
        self._created_dirs.clear()

    def _remove_stale(self) -> None:
        """Remove an earlier run's members of this command's set that the new run did not write."""
        if self.single or not self.replaces:
            return
        new = {resolve(p) for p in self._files.values()}
        for pattern in self.replaces:
            for old in self.root.glob(pattern):
                if resolve(old) in new or not old.is_file() or any(same_file(old, i) for i in self.inputs):
                    continue
                with contextlib.suppress(OSError):
                    old.unlink()

    def discard(self) -> None:
        """Forget this run's writes: its staged files and the folders it created; nothing else is touched."""
        self._remove_staging()
        self._remove_created_dirs()
        self._written.clear()

    def _remove_staging(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def _remove_created_dirs(self) -> None:
        for d in reversed(self._created_dirs):
            try:
                d.rmdir()  # only if empty: another run may have written into it meanwhile
            except OSError:
                pass
        self._created_dirs.clear()

    def _write(self, action: str, name: str | None, fn: Any, *args: Any, **kwargs: Any) -> Path:
        if self._staging is None:
            raise RuntimeError("write outputs inside `with plan:`")
        path = self.path(name)
        try:
            fn(path, *args, **kwargs)
        except OutputError:
            raise
        except OSError as exc:
            raise os_error(action, self._files[name], exc) from None
        return self._files[name]

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
