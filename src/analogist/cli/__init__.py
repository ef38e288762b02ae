"""The ``analogist`` command line: one subcommand module per method or tool.

This is the only place where errors become ``error: ...`` on stderr and exit code 2; everything
below raises :class:`analogist.errors.AnalogistError` instead of printing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import resource
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from .. import __version__
from ..errors import AnalogistError, Terminated
from ..progress import Progress, silent, terminal, timed

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
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a killed command

_log = logging.getLogger("analogist")

EPILOG = """\
-q and -v go before or after the command. `analogist COMMAND --help` describes each command.

exit status:
  0    success
  1    a failure while running: out of memory, an output that cannot be written, a batch job failed
  2    bad arguments or inputs (one `error:` line says which)
  130  interrupted (Ctrl-C); nothing half-written is left behind, earlier outputs are untouched
  143  terminated (SIGTERM); the same
"""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2.

    Every parser, the subcommands' included, takes ``-q``/``-v``, so they work before and after the
    subcommand; their defaults are suppressed so that a subcommand's parser never resets what the top
    level parsed (``main`` fills them in).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        talk = self.add_mutually_exclusive_group()
        talk.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print only errors (and what info and eval are run to print)",
        )
        talk.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="add the time each stage took"
        )

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="analogist",
        description="Semantic correspondence and visual attribute transfer.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"analogist {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _configure_logging(quiet: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("note: %(message)s"))
    log = logging.getLogger("analogist")
    log.handlers[:] = [handler]
    # errors are raised, never logged: quiet silences every note and warning
    log.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    # Pillow logs what it skips in odd files; the user gets analogist's one line instead
    logging.getLogger("PIL").addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors become one ``error:`` line and an exit status, never a traceback.

    Exit statuses: 0 success, 1 a failure while running (unwritable output, out of memory), 2 bad
    arguments or inputs, 130 interrupted (Ctrl-C), also during the imports of the first seconds, 143
    terminated (SIGTERM; the same clean-up as Ctrl-C).
    """
    with _sigterm_as_exception():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()  # imports torch and every method: Ctrl-C may land here
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        args.quiet, args.verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
        if args.quiet and args.verbose:
            parser.error("-q/--quiet and -v/--verbose exclude each other")
        _configure_logging(args.quiet, args.verbose)
        args.progress = _progress(args.quiet, args.verbose)
        start = time.perf_counter()
        code = int(args.func(args) or 0)
        _log.debug("%s: %.2f s in all, peak memory %.0f MB", args.command, time.perf_counter() - start, _peak_mb())
        return code
    except AnalogistError as exc:
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return exc.exit_code
    except Terminated:
        sys.stderr.write("terminated: no partial output was left behind, earlier outputs are untouched\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: no partial output was left behind, earlier outputs are untouched\n")
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


@contextlib.contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` for the command's duration, so its outputs are cleaned up as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _progress(quiet: bool, verbose: bool) -> Progress:
    """What the commands pass their long loops (``args.progress``): nothing, a bar, or a bar plus timings."""
    if quiet:
        return silent
    return timed(terminal, _log.debug) if verbose else terminal


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
