"""The exceptions analogist raises for problems a user can fix.

Front ends turn :class:`AnalogistError` into a one-line ``error: ...`` message and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class AnalogistError(Exception):
    """Base class of every user-facing error: the message is one sentence meant for the user."""


class InputError(AnalogistError, ValueError):
    """An input file, image or parameter is missing, unreadable or out of range."""


class WeightsNotFoundError(AnalogistError, FileNotFoundError):
    """Pretrained weights for a backbone are absent and cannot be fetched."""
