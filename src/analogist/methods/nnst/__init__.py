"""Neural Neighbor Style Transfer (Kolkin, Kucera, Paris, Sykora, Shechtman, Shakhnarovich; 2022).

Two forms share the targets (:mod:`.samples`: every content hypercolumn replaced by its nearest style
neighbour, coarse to fine): ``"training-free"``, NNST-Opt (:mod:`.core`, :mod:`.split`: an image
optimised towards the targets) and ``"learned"``, NNST-D (:mod:`.learned`: a trained decoder turns
them into pixels; :mod:`.train` trains it). :func:`stylize` checks the inputs and dispatches on
``params.form``.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ...errors import InputError
from ...io import check_image
from ...progress import Progress, silent
from .core import stylize_opt
from .learned import find_decoder, load_decoder, stylize_decoder
from .params import FORMS, PRESETS, StylizeParams, preset

_log = logging.getLogger("analogist")


def stylize(
    content: torch.Tensor,
    style: torch.Tensor,
    params: StylizeParams | None = None,
    *,
    content_guide: torch.Tensor | None = None,
    style_guide: torch.Tensor | None = None,
    progress: Progress = silent,
) -> torch.Tensor:
    """Render ``content`` in the style of ``style``.

    Args:
        content: ``(1, 3, H, W)`` RGB in [0, 1]; the output has its size and device.
        style: ``(1, 3, Hs, Ws)`` RGB in [0, 1] (any size; the authors use the content's longer side).
        params: see :class:`StylizeParams` and :data:`PRESETS` (default: the paper's).
        content_guide, style_guide: optional label images ``(1, 3, H, W)`` / ``(1, 3, Hs, Ws)`` in
            [0, 1], both or neither: regions of one colour take their style from the same colour.
        progress: one bar per scale.

    Returns:
        ``(1, 3, H, W)`` float32 RGB in [0, 1]; identical for identical inputs and ``params.seed``.
    """
    params = params or StylizeParams()
    check_image(content, "content", min_side=16)
    check_image(style, "style", min_side=16)
    if (content_guide is None) != (style_guide is None):
        raise InputError("give both a content guide and a style guide, or neither")
    if content_guide is not None:
        check_image(content_guide, "content guide", min_side=16)
        check_image(style_guide, "style guide", min_side=16)
        content_guide = F.interpolate(content_guide.float(), size=content.shape[-2:], mode="area")
        style_guide = F.interpolate(style_guide.float(), size=style.shape[-2:], mode="area")
    guides = {"content_guide": content_guide, "style_guide": style_guide, "progress": progress}
    if params.form == "learned":
        device = content.device
        decoder = load_decoder(params.checkpoint, device=device)
        return stylize_decoder(
            content.float().detach(), style.float().detach().to(device), params, decoder=decoder, **guides
        )
    return stylize_opt(content, style, params, **guides)


def preset_or_fast(name: str, checkpoint: str | None = None, **overrides: object) -> StylizeParams:
    """:func:`preset` ``name``; the ``"decoder"`` preset takes the checkpoint found
    (:func:`find_decoder`) and, where none is, becomes ``"fast"`` with a warning: the one rule every
    front end follows. Overrides of the optimisation's steps do not apply to the decoder."""
    if name != "decoder":
        return preset(name, **overrides)
    found = find_decoder(checkpoint)
    if found is None:
        _log.warning(
            "no NNST-D decoder checkpoint found (train one with `analogist train nnst-d`): using --preset fast instead"
        )
        return preset("fast", **overrides)
    return preset("decoder", checkpoint=str(found), **{k: v for k, v in overrides.items() if "steps" not in k})


__all__ = [
    "FORMS",
    "PRESETS",
    "StylizeParams",
    "find_decoder",
    "preset",
    "preset_or_fast",
    "stylize",
]
