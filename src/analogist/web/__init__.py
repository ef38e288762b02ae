"""A small local web app: upload two images, pick a method, watch its progress, download the results.

Run it with ``analogist web``. It is a thin front end over :mod:`analogist.methods`: jobs run one at a
time in a background thread (the methods already use every core), each in its own folder.
"""

from .app import create_app

__all__ = ["create_app"]
