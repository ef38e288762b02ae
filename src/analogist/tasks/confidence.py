"""Telling a user that a result rests on weak correspondences (two images that do not share meaning).

The matching methods always return *some* match; on unrelated images it is noise and so is the result.
These checks look at what the best buddies themselves say (how many survived, how many of the pairs a
deformation asked for agree on one; for align and morph, how well the two images' deep features agree
once the chosen map lines them up) and give one sentence for the page and the batch's ``job.json``, or
None. They flag a match too weak to trust, not unrelated images as such: ``benchmarks/weak_matches.py``
shows best buddies are found in the thousands on unrelated pairs too, which is why the page also says
what the two images need in common where they are chosen (:data:`ADVICE`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..progress import Progress

if TYPE_CHECKING:
    from ..apps.pair_search import Drivers

ADVICE = (
    "Choose two images of the same kind of subject, framed roughly alike (two faces, two cats seen from the "
    "side): the method matches parts by meaning, and unrelated pictures give a poor result."
)
_WEAK = "the correspondences are weak ({}): the images may not share a subject or framing, so the result is unreliable"
#: Best buddies below which a pair is weak, at any size (related pairs at 128-224 px give 60 or more).
MIN_BUDDIES = 30
#: Share of the consistent pairs a deformation asked for (``k``) below which the warp is unreliable.
MIN_CONSISTENT = 0.6
#: Feature agreement (:func:`analogist.apps.pair_search.agreement`) of align's and morph's chosen map
#: below which a pair is weak. Jobs at 96 / 160 / 256 px (the search at 224): the 9 face pairs score at
#: least 0.127 / 0.124 / 0.114; parrots-mountains 0.086 / 0.070 / 0.085; the bundled images crossed
#: 0.066-0.162, 3 / 4 / 4 of 5 under it; landscapes against paintings and some objects as low
#: (``benchmarks/weak_matches.py``, docs/buddies.md)
MIN_AGREEMENT = 0.105


def note(progress: Progress, message: str | None) -> None:
    """Pass ``message`` to a progress that collects notes for the user (the web page's, a batch job's)."""
    warn = getattr(progress, "warn", None)
    if message and warn is not None:
        warn(message)


def buddies_note(found: int, consistent: int | None = None, k: int | None = None) -> str | None:
    """A note when few best buddies were found, or few of the ``k`` pairs asked for agree on one warp."""
    if found < MIN_BUDDIES:
        return _WEAK.format(f"only {found} best buddies were found")
    if consistent is not None and k and consistent < MIN_CONSISTENT * k:
        return _WEAK.format(f"only {consistent} of the {k} pairs asked for agree on one deformation")
    return None


def drivers_note(drivers: Drivers) -> str | None:
    """The note of align's and morph's driving pairs (:func:`analogist.apps.pair_search.deform_drivers`):
    too few buddies, or deep features that agree little once the chosen map lines the images up.

    Not the share of the pairs that agree on one deformation (:func:`buddies_note`): EfficientNet-Lite0
    finds thousands of buddies, and the spread pairs agree as little on most related pairs as on
    unrelated ones (``benchmarks/weak_matches.py``, docs/web-and-batch.md)."""
    if drivers.found < MIN_BUDDIES:
        return _WEAK.format(f"only {drivers.found} best buddies were found")
    if drivers.agreement < MIN_AGREEMENT:  # nan (one search: nothing was judged) does not warn
        return _WEAK.format(f"once aligned, their deep features agree at only {drivers.agreement:.2f}")
    return None
