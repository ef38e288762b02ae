"""The exceptions analogist raises for problems a user can fix.

Front ends turn :class:`AnalogistError` into a one-line ``error: ...`` message and the error's
``exit_code`` (2 for bad arguments and inputs, 1 for a failure while running); anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class AnalogistError(Exception):
    """Base class of every user-facing error: the message is one sentence meant for the user."""

    #: Exit status of the command line: 2 = usage (bad argument or input), as Unix tools use it.
    exit_code = 2


class InputError(AnalogistError, ValueError):
    """An input file, image or parameter is missing, unreadable or out of range."""


class OutputError(AnalogistError, OSError):
    """An output cannot be written (read-only folder, full disk, impossible name): a failure while running."""

    exit_code = 1


class WeightsNotFoundError(AnalogistError, FileNotFoundError):
    """Pretrained weights for a backbone are absent and cannot be fetched."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every clean-up that undoes an interrupted run also runs for it."""
