"""A local web app: upload two images, pick a method, watch its progress, download the results.

Run it with ``analogist web``. It is a thin front end over :mod:`analogist.methods`: each method is a
:class:`~analogist.tasks.Task` in a registry; jobs run one at a time in a background thread (the
methods already use every core) from a fair queue, each in its own folder, written through an
:class:`analogist.outputs.OutputPlan`.
"""

from .app import create_app

__all__ = ["create_app"]
