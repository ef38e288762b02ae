"""The stylised source rendered with the target's colour and texture along SAM-Net's field (issue 24).

The loop's own decoder (:mod:`.core`: the source plus lambda times the warped target's coarse content,
or the learned decoder of :mod:`.transfer`) is made for the next iteration's matching, and keeps the
source nearly unchanged. The image SAM-Net returns is drawn by NNST's synthesis instead
(:func:`analogist.methods.nnst.stylize`): the source is the content and the target the style, and
each of the source's hypercolumns takes its replacement near where the field sends it. The field
enters as NNST's guidance (section 5 of Kolkin et al.): the target's guide is its own pixel
coordinates, the source's guide the same coordinates pulled back along the flow, so a source pixel's
match pays ``w_guide |p_matched - p|^2`` for straying from the target position the field gives it.
The training-free form optimises the image (NNST-Opt, preset ``fast``); the learned form decodes it
with NNST-D's trained decoder where a checkpoint is found (preset ``decoder``).
"""

from __future__ import annotations

import torch

from ...matching.flow import identity_grid
from ...progress import Progress, silent
from ...synthesis import color
from ...synthesis.pyramid import resize
from ...synthesis.warp import backward_warp
from .params import SAMNetParams


def coordinate_guides(flow: torch.Tensor, target_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """NNST guides from a flow ``(2, H, W)`` into a target of ``target_size`` ``(Ht, Wt)``: the target's
    pixel coordinates scaled to [0, 1] ``(1, 3, Ht, Wt)`` (x, y and a constant 0.5) and the same
    coordinates pulled onto the source along the flow ``(1, 3, H, W)``. Returns ``(source's, target's)``."""
    ht, wt = target_size
    grid = identity_grid(ht, wt, device=flow.device)
    scale = torch.tensor([max(wt - 1, 1), max(ht - 1, 1)], dtype=grid.dtype, device=grid.device)[:, None, None]
    style_guide = torch.cat([grid / scale, torch.full_like(grid[:1], 0.5)])[None]
    content_guide = backward_warp(style_guide, flow.float()).clamp(0, 1)
    return content_guide, style_guide


def render(
    source: torch.Tensor,
    target: torch.Tensor,
    flow: torch.Tensor,
    target_size: tuple[int, int],
    warped: torch.Tensor,
    params: SAMNetParams,
    *,
    learned: bool = False,
    progress: Progress = silent,
) -> torch.Tensor:
    """The source ``(1, 3, H, W)`` rendered with the target's ``(1, 3, Ht, Wt)`` attributes along
    ``flow`` ``(2, H', W')``, source -> target pixels of a target of ``target_size``, whose target
    pulled onto the source is ``warped`` ``(1, 3, H', W')`` (the guides are in relative coordinates,
    so the images may be resized copies): ``(1, 3, H, W)`` in [0, 1].

    NNST's texture (its output's luminance) takes its colours from ``warped``: NNST's own colour step
    (section 3.5) with the warped target in the content's place, so each part is coloured like the
    part of the target the field matched it to, then the target's colour moments overall.
    """
    from ..nnst import preset, preset_or_fast, stylize

    content_guide, style_guide = coordinate_guides(flow, target_size)
    overrides = {"w_guide": params.render_guide, "color": False}
    nnst = preset_or_fast("decoder", **overrides) if learned else preset("fast", **overrides)
    out = stylize(source, target, nnst, content_guide=content_guide, style_guide=style_guide, progress=progress)
    radius = max(1, round(nnst.color_radius * max(source.shape[-2:]) / 512))
    local = resize(warped, tuple(source.shape[-2:])).clamp(0, 1)
    return color.postprocess(out.cpu(), local.cpu(), target.cpu(), radius=radius).to(out.device)


__all__ = ["coordinate_guides", "render"]
