"""Neural Best-Buddies (Aberman, Liao, Shi, Lischinski, Chen, Cohen-Or; SIGGRAPH 2018).

:mod:`.params` holds the parameters and the result, :mod:`.core` the coarse-to-fine search of
mutual nearest neighbours (the pure functions live in :mod:`analogist.matching.buddies`),
:mod:`.pictures` draws the pairs. Align, hybrid and morph are applications (:mod:`analogist.apps`).
"""

from __future__ import annotations

from .core import neural_best_buddies
from .params import COMMON_APPEARANCES, BuddiesLevel, BuddiesParams, BuddiesResult
from .pictures import draw_buddies

__all__ = [
    "COMMON_APPEARANCES",
    "BuddiesLevel",
    "BuddiesParams",
    "BuddiesResult",
    "draw_buddies",
    "neural_best_buddies",
]
