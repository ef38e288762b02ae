"""Runnable tasks shared by the web page and ``analogist batch``: see :mod:`analogist.tasks.registry`."""

from . import builtin as _builtin  # noqa: F401  (registers the methods' tasks)
from .registry import TASKS, Option, Task, example_files, get_task, output_names, register

__all__ = ["TASKS", "Option", "Task", "example_files", "get_task", "output_names", "register"]
