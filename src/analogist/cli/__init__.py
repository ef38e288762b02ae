"""The ``analogist`` command line: one subcommand module per method or tool.

This is the only place where errors become ``error: ...`` on stderr and exit code 2; everything
below raises :class:`analogist.errors.AnalogistError` instead of printing.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import AnalogistError

#: Subcommand modules of this package, in the order ``--help`` lists them. Each defines
#: ``register(subparsers)``, which adds its parsers and sets ``func`` to a ``run(args) -> int``.
COMMANDS = (
    "analogy",
    "appearance",
    "batch",
    "buddies",
    "demo",
    "eval",
    "features",
    "info",
    "samnet",
    "stylize",
    "train",
    "video",
    "web",
)

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="analogist", description="Semantic correspondence and visual attribute transfer.")
    parser.add_argument("--version", action="version", version=f"analogist {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _configure_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("note: %(message)s"))
    log = logging.getLogger("analogist")
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    # Pillow logs what it skips in odd files; the user gets analogist's one line instead
    logging.getLogger("PIL").addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors become one ``error:`` line and an exit status, never a traceback.

    Exit statuses: 0 success, 1 a failure while running (unwritable output, out of memory), 2 bad
    arguments or inputs, 130 interrupted (Ctrl-C), also during the imports of the first seconds.
    """
    try:
        parser = build_parser()  # imports torch and every method: Ctrl-C may land here
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        _configure_logging(args.quiet)
        return int(args.func(args) or 0)
    except AnalogistError as exc:
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: no partial output was left behind\n")
        return EXIT_INTERRUPTED
    except MemoryError:
        sys.stderr.write("error: out of memory: try a smaller --size\n")
        return EXIT_FAILURE
    except RuntimeError as exc:
        # torch reports allocation failures (CPU and CUDA) as RuntimeError subclasses
        if "out of memory" in str(exc) or "not enough memory" in str(exc):
            sys.stderr.write("error: out of memory: try a smaller --size\n")
            return EXIT_FAILURE
        raise


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
