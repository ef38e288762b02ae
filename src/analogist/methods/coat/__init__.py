"""COAT: correspondence-driven object appearance transfer (Jeon, Park, Kim, Sohn, Kim; BMVC 2022).

Two forms: ``"training-free"`` (:mod:`.core`: the latent alignment of :mod:`.correspond` and the part
fill of :mod:`.fill`, synthesised by an optimisation) and ``"learned"`` (:mod:`.learned`: a trained
matcher and decoder; :mod:`.train` trains them). :func:`coat` and :func:`coat_levels` dispatch on
``params.form``; :mod:`.pictures` draws the correspondences.
"""

from __future__ import annotations

import torch

from ...progress import Progress, silent
from .core import free_levels
from .correspond import MAX_LEVEL, SCALES
from .learned import learned_levels
from .params import FORMS, Alignment, COATParams, COATResult


def coat_levels(
    content: torch.Tensor,
    style: torch.Tensor,
    params: COATParams | None = None,
    levels: list[int] | None = None,
    *,
    progress: Progress = silent,
) -> dict[int, COATResult]:
    """:func:`coat` at several texture levels ``n`` (default: ``params.texture_level``), matching once:
    ``{n: result}`` (as the paper's Fig. 4)."""
    params = params or COATParams()
    levels = [params.texture_level] if levels is None else levels
    if params.form == "learned":
        return learned_levels(content, style, params, levels)
    return free_levels(content, style, params, levels, progress=progress)


def coat(
    content: torch.Tensor,
    style: torch.Tensor,
    params: COATParams | None = None,
    *,
    progress: Progress = silent,
) -> COATResult:
    """Give ``content`` ``(1, 3, H, W)`` the part-by-part appearance of ``style`` ``(1, 3, Hs, Ws)``
    (both RGB in [0, 1]); the result has the content's size, structure and device."""
    params = params or COATParams()
    return coat_levels(content, style, params, progress=progress)[params.texture_level]


__all__ = ["FORMS", "MAX_LEVEL", "SCALES", "Alignment", "COATParams", "COATResult", "coat", "coat_levels"]
