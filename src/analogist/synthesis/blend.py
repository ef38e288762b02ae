"""SAM-Net's neural patch blending (Kim et al. CVPR 2019, Eq. 8-9).

The attribute-transferred features of source cell ``i`` mix its own features with the target features
that the affine transforms of its 3x3 neighbours ``j`` predict for it, weighted by the neighbours'
matching confidences::

    B(i) = (1 - lambda) F_s(i) + lambda * sum_j alpha_j F_t(T_j(i)) / sum_j alpha_j
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..matching.affine_field import apply_field, window_offsets
from .pyramid import resize
from .warp import sample


def blend_weights(confidence: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Normalised neighbour weights ``(K, h, w)`` (``K = (2 radius + 1)^2``, row-major offsets) from the
    confidences ``(h, w)``: ``alpha_{i+o} / sum_o alpha_{i+o}`` over the neighbours inside the grid.

    Every cell's weights sum to one (a cell whose neighbours all have zero confidence weighs them alike).
    """
    h, w = confidence.shape
    n = 2 * radius + 1
    a = confidence.clamp_min(0)[None, None]
    inside = torch.ones_like(a)
    cols = F.unfold(a, n, padding=radius)[0].reshape(n * n, h, w)
    valid = F.unfold(inside, n, padding=radius)[0].reshape(n * n, h, w)
    cols = torch.where(cols.sum(0, keepdim=True) > 0, cols, valid)
    return cols / cols.sum(0, keepdim=True)


def neighbour_predictions(ft: torch.Tensor, field: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Target features each neighbour's transform predicts for cell ``i``: ``F_t(T_{i+o}(i))``,
    ``(K, C, h, w)`` for target features ``ft`` ``(1, C, ht, wt)`` and a field ``(6, h, w)``."""
    h, w = field.shape[-2:]
    xs, ys = torch.meshgrid(
        torch.arange(w, device=field.device, dtype=field.dtype),
        torch.arange(h, device=field.device, dtype=field.dtype),
        indexing="xy",
    )
    padded = F.pad(field[None], (radius,) * 4, mode="replicate")[0]
    preds = []
    for dx, dy in window_offsets(radius, field).long().tolist():
        shifted = padded[:, radius + dy : radius + dy + h, radius + dx : radius + dx + w]
        preds.append(sample(ft, apply_field(shifted, xs, ys))[0])
    return torch.stack(preds)


def patch_blend(
    fs: torch.Tensor, ft: torch.Tensor, field: torch.Tensor, confidence: torch.Tensor, lam: float, radius: int = 1
) -> torch.Tensor:
    """Eq. 8: the blended features ``B`` ``(1, C, h, w)`` of source features ``fs`` ``(1, C, h, w)``.

    ``lam = 0`` returns ``fs``; ``lam = 1`` the confidence-weighted target features alone.
    """
    if lam == 0:
        return fs.clone()
    wts = blend_weights(confidence, radius)  # (K, h, w)
    warped = (neighbour_predictions(ft, field, radius) * wts[:, None]).sum(0, keepdim=True)
    return (1 - lam) * fs + lam * warped


def image_blend(source: torch.Tensor, warped: torch.Tensor, lam: float, grid: tuple[int, int]) -> torch.Tensor:
    """Eq. 8 in pixels, as the warm start of the training-free decoder ``(1, 3, H, W)``.

    The source ``(1, 3, H, W)`` takes the share ``lam`` of the warped target's content *below* the
    feature grid's resolution ``grid`` (colour, tone, shading) and keeps its own finer detail: the role
    the learned decoder's skip connections from the source play (Eq. 10).
    """
    size = tuple(source.shape[-2:])
    low = resize(resize(warped - source, grid, antialias=True), size)
    return (source + lam * low).clamp(0, 1)


__all__ = ["blend_weights", "image_blend", "neighbour_predictions", "patch_blend"]
