"""``analogist demo``: every method on the bundled example images, into a fresh folder."""

from __future__ import annotations

import argparse
import importlib
import shutil
import time
from pathlib import Path

from ..errors import InputError

#: CLI modules whose ``demo(outdir, progress) -> list[Path]`` runs their method on bundled examples.
DEMOS = ("analogy", "buddies", "stylize", "samnet", "appearance", "eval", "features")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run every method on the bundled example images")
    p.add_argument(
        "-o",
        "--output",
        default="analogist-demo",
        metavar="OUTDIR",
        help="folder to create (default analogist-demo; a numbered sibling if it is not empty)",
    )
    p.add_argument("--only", choices=DEMOS, action="append", help="run only this demo (repeatable)")
    p.set_defaults(func=run)


def fresh_folder(path: Path) -> Path:
    """``path`` if absent or empty, otherwise the first free ``path-2``, ``path-3``, ...

    Nothing is created here: each demo's :class:`~analogist.outputs.OutputPlan` creates its folder."""
    candidate, n = path, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
        if n > 999:
            raise InputError(f"no free folder name next to {path}")
    return candidate


def run(args: argparse.Namespace) -> int:
    outdir = fresh_folder(Path(args.output))
    existed = outdir.exists()
    try:
        for name in args.only or DEMOS:
            start = time.perf_counter()
            written = importlib.import_module(f"{__package__}.{name}").demo(outdir / name, args.progress)
            if not args.quiet:
                print(f"{name}: {len(written)} files in {outdir / name} ({time.perf_counter() - start:.1f} s)")
    except BaseException:
        # the folder is the demo's own (fresh or empty before): a failed or interrupted demo takes it back
        if existed:
            _empty(outdir)
        else:
            shutil.rmtree(outdir, ignore_errors=True)
        raise
    if not args.quiet:
        print(f"demo outputs: {outdir}")
    return 0


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
