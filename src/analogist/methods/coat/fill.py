"""The part fill of COAT's training-free form (not from the paper): the texture scales' positions outside
the confident set take their part's style feature too, where the confident set vouches for the part.

With the paper's swap (Eq. 3) only the mutual nearest neighbours change, 5-19 % of the positions of
faces and animals; the paper's StyleGAN spreads them into whole textures, pixel optimisation does not,
so the texture level ``n`` barely mattered and the cat of the bundled pair stayed grey. Here every
position ``i`` is also given a part match: the best style position (on the scale's matching features)
within ``radius`` cells of where a dense correspondence sends ``i`` (SAM-Net's field, the project's
best matcher on faces-dev and TSS). It replaces ``i``'s feature in proportion to a gate: the local
density of confident pairs that agree with that correspondence, so parts with a counterpart (a face's
skin, a cat's fur) take the style's texture and parts without one (a background that differs) keep the
content's. Confident positions keep exactly their Eq. 3 swap.

Grids are hypercolumn grids ``(h, w)``; positions are row-major indices; centres are style-grid points
``(2, h1, w1)`` as ``(x, y)`` with cell centres at integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...matching.affine_field import window_correlation, window_offsets
from ...matching.flow import pixel_flow_to_grid
from ...matching.mutual import Confident
from ...synthesis.filters import gaussian_blur

#: A confident pair agrees with the dense correspondence within this share of the style grid's longer side.
AGREE = 0.06
#: Window of the agreement density, as a share of the content grid's longer side.
SPREAD = 0.05


@dataclass(frozen=True)
class PartFill:
    """The part matches of one hierarchy scale.

    Attributes:
        index: ``(N1,)`` int64 style position per content position: its Eq. 3 match on the confident set,
            its part match elsewhere.
        weight: ``(N1,)`` in [0, 1], how far the position's feature moves to the style's: 1 on the
            confident set, the gate elsewhere.
    """

    index: torch.Tensor
    weight: torch.Tensor


def part_centres(
    flow: torch.Tensor, grid_1: tuple[int, int], grid_2: tuple[int, int], size_2: tuple[int, int]
) -> torch.Tensor:
    """Where a pixel flow ``(2, H, W)`` (content -> style pixels, style of ``size_2`` ``(Hs, Ws)``) sends each
    content cell of ``grid_1``: style-grid points ``(2, h1, w1)`` on ``grid_2``, the mean over the cell."""
    tx, ty = pixel_flow_to_grid(flow.float(), grid_1, grid_2, size_2)
    return torch.stack([tx.clamp(0, grid_2[1] - 1), ty.clamp(0, grid_2[0] - 1)])


def support_gate(
    confident: list[Confident], centres: torch.Tensor, grid_2: tuple[int, int], support: float
) -> torch.Tensor:
    """``(N1,)`` in [0, 1]: the density of confident pairs (of any scale) whose style position lies within
    :data:`AGREE` of ``centres`` ``(2, h1, w1)``, under a Gaussian of :data:`SPREAD`, divided by ``support``
    and capped at 1."""
    h1, w1 = centres.shape[-2:]
    agree = torch.zeros(h1 * w1, dtype=torch.bool, device=centres.device)
    flat = centres.reshape(2, -1)
    for conf in confident:
        at = torch.stack([conf.index % grid_2[1], conf.index // grid_2[1]]).to(flat.dtype)
        agree |= conf.mask & ((at - flat).norm(dim=0) <= AGREE * max(grid_2))
    density = gaussian_blur(agree.float().reshape(1, 1, h1, w1), SPREAD * max(h1, w1), border="reflect")[0, 0]
    density = density.cpu().numpy()
    gate = torch.from_numpy(np.clip(density / support, 0.0, 1.0)).reshape(-1)
    return gate.to(device=centres.device, dtype=torch.float32)


def restricted_match(feat_1: torch.Tensor, feat_2: torch.Tensor, centres: torch.Tensor, radius: int) -> torch.Tensor:
    """``(N1,)`` style positions: for every content position of ``feat_1`` ``(1, C, h1, w1)`` the most
    similar (cosine) position of ``feat_2`` ``(1, C, h2, w2)`` among the ``(2 radius + 1)^2`` cells around
    its rounded centre in ``centres`` ``(2, h1, w1)``."""
    h2, w2 = feat_2.shape[-2:]
    cen = torch.stack([centres[0].round().clamp(0, w2 - 1), centres[1].round().clamp(0, h2 - 1)])
    corr = window_correlation(feat_1.float(), feat_2.float(), cen, radius)
    best = window_offsets(radius, cen)[corr.argmax(0)]  # (h1, w1, 2)
    tx = (cen[0] + best[..., 0]).clamp(0, w2 - 1).long()
    ty = (cen[1] + best[..., 1]).clamp(0, h2 - 1).long()
    return (ty * w2 + tx).reshape(-1)


def fill_scale(conf: Confident, part: torch.Tensor, gate: torch.Tensor, amount: float) -> PartFill:
    """One scale's :class:`PartFill` from its confident set, part matches ``(N1,)`` and gate ``(N1,)``."""
    index = torch.where(conf.mask, conf.index, part)
    weight = torch.where(conf.mask, torch.ones_like(gate), amount * gate)
    return PartFill(index, weight)


def fill_swap(feat_1: torch.Tensor, feat_2: torch.Tensor, fill: PartFill) -> torch.Tensor:
    """``(1, C, h1, w1)``: ``feat_1`` moved towards ``feat_2`` ``(1, C, h2, w2)`` at ``fill.index`` by
    ``fill.weight`` (Eq. 3 exactly where the weight is 1 and the index the confident match)."""
    c = feat_1.shape[1]
    f1 = feat_1.reshape(c, -1)
    moved = feat_2.reshape(c, -1).index_select(1, fill.index).to(f1.dtype)
    return torch.lerp(f1, moved, fill.weight.to(f1.dtype)[None]).reshape(feat_1.shape)


__all__ = ["AGREE", "SPREAD", "PartFill", "part_centres", "support_gate", "restricted_match", "fill_scale", "fill_swap"]
