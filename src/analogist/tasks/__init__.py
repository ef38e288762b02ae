"""Runnable tasks shared by the web page and ``analogist batch``: see :mod:`analogist.tasks.registry`."""

# registration order is the page's tab order
from . import appearance as _appearance  # noqa: F401,I001
from . import analogy as _analogy  # noqa: F401,I001
from . import buddies as _buddies  # noqa: F401,I001
from . import stylize as _stylize  # noqa: F401,I001
from . import samnet as _samnet  # noqa: F401,I001
from .registry import TASKS, Option, Task, example_files, get_task, output_names, register

__all__ = ["TASKS", "Option", "Task", "example_files", "get_task", "output_names", "register"]
