"""SAM-Net's weakly supervised step: fine-tuning G on real image pairs without labels.

Without a ground-truth flow, G learns from two signals that need none:

- the matching loss of Eq. 11-13 with each cell's own match as the pseudo ground truth: minimal when
  the match sits on its correlation window's sharp peak, its gradient pulls a cell toward where its
  window peaks (the current soft-argmax), the paper's self-supervision of the matching loss;
- forward-backward consistency: the field A -> B followed by the field B -> A returns each cell of A
  to itself (its error in cells, weighted by ``w_cycle``), which a winner-takes-all match on repeated
  or ambiguous structure does not.

Deviation: the correlation is that of the plain features (the attribute-transferred source's share
is left out here, as in the synthetic step), which keeps a step at the cost of two unrolls.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from ...features import Backbone
from ...matching.affine_field import field_targets, identity_field, l2_normalize_window, window_correlation
from ...synthesis.warp import sample
from .learned import matching_loss, residual_to_global, smoothness_loss


class WeakSettings(Protocol):
    """The training settings the weak step reads (:class:`~.train.SAMNetTrainSettings` has them)."""

    layer: str
    radius: int
    unroll: int
    beta: float
    w_cycle: float
    w_smooth: float


def unroll(g: nn.Module, fa: torch.Tensor, fb: torch.Tensor, radius: int, steps: int) -> torch.Tensor:
    """G's field ``(6, h, w)`` from ``fa`` ``(1, C, h, w)`` into ``fb`` after ``steps`` recurrent updates."""
    aff = identity_field(tuple(fa.shape[-2:]), tuple(fb.shape[-2:]), like=fa)
    for _ in range(steps):
        corr = window_correlation(fa, fb, field_targets(aff), radius)
        aff = aff + residual_to_global(g(l2_normalize_window(corr)[None])[0])
    return aff


def pseudo_loss(fa: torch.Tensor, fb: torch.Tensor, aff: torch.Tensor, radius: int, beta: float) -> torch.Tensor:
    """Truncated cross-entropy (Eq. 11-13) of the window at the field's matches toward its own centre:
    minimal where every match sits on its window's sharp peak, so its gradient moves each match toward
    the current soft-argmax of its correlation (the pseudo ground truth)."""
    centres = field_targets(aff)
    corr = l2_normalize_window(window_correlation(fa, fb, centres, radius))
    return matching_loss(beta * corr, torch.zeros_like(centres), radius)


def cycle_error(aff_ab: torch.Tensor, aff_ba: torch.Tensor) -> torch.Tensor:
    """Mean distance in cells between each cell of A and where A -> B -> A brings it back."""
    there = field_targets(aff_ab)
    back = sample(field_targets(aff_ba)[None], there)[0]
    return (back - field_targets(identity_field(tuple(aff_ab.shape[-2:]), like=aff_ab))).norm(dim=0).mean()


def weak_losses(
    net: Backbone, s: WeakSettings, g: nn.Module, a: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, dict]:
    """The weakly supervised loss of G on a batch of pairs ``a``, ``b`` ``(B, 3, S, S)`` and its parts,
    on the ``s.layer`` features of ``net``."""
    with torch.no_grad():
        fa = net.extract(a, [s.layer])[s.layer]
        fb = net.extract(b, [s.layer])[s.layer]
    loss, ce_sum, cyc_sum = fa.new_zeros(()), 0.0, 0.0
    for i in range(len(fa)):
        x, y = fa[i : i + 1], fb[i : i + 1]
        ab, ba = unroll(g, x, y, s.radius, s.unroll), unroll(g, y, x, s.radius, s.unroll)
        ce = (pseudo_loss(x, y, ab, s.radius, s.beta) + pseudo_loss(y, x, ba, s.radius, s.beta)) / 2
        cyc = (cycle_error(ab, ba) + cycle_error(ba, ab)) / 2
        loss = loss + ce + s.w_cycle * cyc + s.w_smooth * (smoothness_loss(ab) + smoothness_loss(ba)) / 2
        ce_sum, cyc_sum = ce_sum + float(ce.detach()), cyc_sum + float(cyc.detach())
    n = len(fa)
    return loss / n, {"ce": ce_sum / n, "cycle_cells": cyc_sum / n}


__all__ = ["cycle_error", "pseudo_loss", "unroll", "weak_losses"]
