"""Blending the two propagations of a frame that lies between two keyframes (after Jamriska et al.
2019, "Stylizing Video by Example", keyframe blending).

Each in-between frame has two candidate stylisations: the earlier keyframe propagated forwards and
the later one backwards. A cross-fade of the two shows both textures at once wherever they are not
aligned (ghosting, double edges). The paper instead picks, per pixel, the source with the lower
error accumulated along its track, with a spatially coherent selection, and composites the
selected sources in the gradient domain, so that the seams between them vanish as well.

Deviation: the paper's selection is a graph cut; here the error difference is smoothed with a
Gaussian before its sign is taken (cost filtering: each pixel follows the better source over its
neighbourhood), which gives the same large coherent regions without a max-flow solver.
"""

from __future__ import annotations

import torch

from ...synthesis.filters import gaussian_blur
from ...synthesis.poisson import gradients, screened_poisson
from .propagate import Rendering, Settings


def crossfade(a: Rendering, b: Rendering, t: float) -> torch.Tensor:
    """Weighted average ``(1, 3, H, W)`` of two renderings of a frame lying a fraction ``t`` from keyframe a to b.

    Each side's weight is its reliability times its temporal closeness (``1 - t`` and ``t``), so the
    output moves from one keyframe's propagation to the other's without a jump, and where one side
    cannot see a region (occluded since its keyframe) the other takes it over.
    """
    wa, wb = (1 - t) * (a.weight + 1e-3), t * (b.weight + 1e-3)
    return ((wa * a.styled + wb * b.styled) / (wa + wb)).clamp(0, 1)


def selection(a: Rendering, b: Rendering, t: float, settings: Settings) -> torch.Tensor:
    """Share ``(1, 1, H, W)`` in [0, 1] of source a per pixel: 1 where a's smoothed cost is lower.

    Cost = error accumulated along the track plus ``time_bias`` times the temporal distance to the
    source's keyframe (``t`` for a, ``1 - t`` for b), so equal errors go to the nearer keyframe.
    The cost difference is blurred by ``select_sigma`` px before the choice (coherent regions), and
    the choice by 1 px (a soft edge the gradient-domain composite needs no more than that).
    """
    diff = (b.error + settings.time_bias * (1 - t)) - (a.error + settings.time_bias * t)
    if settings.select_sigma > 0:
        diff = gaussian_blur(diff, settings.select_sigma)
    return gaussian_blur((diff > 0).to(diff.dtype), 1.0).clamp(0, 1)


def poisson(a: Rendering, b: Rendering, t: float, settings: Settings) -> torch.Tensor:
    """Gradient-domain composite ``(1, 3, H, W)``: the selected source's gradients (:func:`selection`),
    colours anchored weakly (``settings.anchor``) to the cross-fade, solved by a DCT screened Poisson solve.

    Where both sources agree the result is that source exactly; across a switch between two sources
    whose colours differ, the step is spread over the large scales instead of showing as a seam.
    """
    m = selection(a, b, t, settings)
    # the share at a gradient's two pixels, so that a gradient across the switch mixes both sources
    mx, my = m.clone(), m.clone()
    mx[..., :, :-1] = 0.5 * (m[..., :, :-1] + m[..., :, 1:])
    my[..., :-1, :] = 0.5 * (m[..., :-1, :] + m[..., 1:, :])
    (ax, ay), (bx, by) = gradients(a.styled), gradients(b.styled)
    gx, gy = mx * ax + (1 - mx) * bx, my * ay + (1 - my) * by
    return screened_poisson(gx, gy, crossfade(a, b, t), settings.anchor).clamp(0, 1)


def blend(a: Rendering, b: Rendering, t: float, settings: Settings) -> torch.Tensor:
    """The frame ``(1, 3, H, W)`` from its two propagations, by ``settings.blend``."""
    return poisson(a, b, t, settings) if settings.blend == "poisson" else crossfade(a, b, t)


__all__ = ["blend", "crossfade", "poisson", "selection"]
