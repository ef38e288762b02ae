"""Exact patch nearest neighbours by chunked matrix products, and the full cost volume.

Part of :mod:`analogist.matching.nnf` (import the names from there). The patch distance follows the
authors' code: squared distances are averaged over the patch pixels valid in *both* maps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F


def _unfold(feat: torch.Tensor, patch: int) -> torch.Tensor:
    """``(1, C, h, w)`` to zero-padded patch vectors ``(h*w, C*patch*patch)``."""
    return F.unfold(feat, patch, padding=patch // 2)[0].t()


def exact_cost(shape_a: tuple[int, ...], shape_b: tuple[int, ...], patch: int) -> float:
    """Multiply-adds of :func:`exact_search` for features ``(1, C, ha, wa)`` against ``(1, C, hb, wb)``."""
    _, c, ha, wa = shape_a
    hb, wb = shape_b[-2:]
    return float(ha * wa) * hb * wb * (c + 2) * patch * patch


def _distance_rows(
    fa: torch.Tensor, fb: torch.Tensor, patch: int, guide: torch.Tensor | None, radius: int | None, chunk: int
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(start, end, d)``: patch distances ``d`` ``(end - start, hb*wb)`` of query rows
    ``start:end`` (mean over pixels valid in both patches; ``inf`` outside ``guide +- radius``)."""
    ha, wa = fa.shape[-2:]
    hb, wb = fb.shape[-2:]
    ones_a = fa.new_ones(1, 1, ha, wa)
    ones_b = fb.new_ones(1, 1, hb, wb)
    # patch sum of |a|^2 + |b|^2 - 2ab over pixels valid in both, as one product of augmented vectors
    qa = torch.cat([-2 * _unfold(fa, patch), _unfold(fa.pow(2).sum(1, keepdim=True), patch), _unfold(ones_a, patch)], 1)
    db = torch.cat([_unfold(fb, patch), _unfold(ones_b, patch), _unfold(fb.pow(2).sum(1, keepdim=True), patch)], 1)
    va, vb = _unfold(ones_a, patch), _unfold(ones_b, patch)
    if guide is not None and radius is not None:
        gx, gy = guide[0].reshape(-1), guide[1].reshape(-1)
        bx = torch.arange(wb, device=fb.device).repeat(hb)
        by = torch.arange(hb, device=fb.device).repeat_interleave(wb)
    for s in range(0, ha * wa, chunk):
        e = min(s + chunk, ha * wa)
        d = ((qa[s:e] @ db.t()) / (va[s:e] @ vb.t())).clamp_min_(0)
        if guide is not None and radius is not None:
            far = ((bx[None] - gx[s:e, None]).abs() > radius) | ((by[None] - gy[s:e, None]).abs() > radius)
            d.masked_fill_(far, math.inf)
        yield s, e, d


def exact_search(
    fa: torch.Tensor,
    fb: torch.Tensor,
    patch: int,
    *,
    guide: torch.Tensor | None = None,
    radius: int | None = None,
    chunk: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact patch nearest neighbour of every pixel of ``fa`` in ``fb``, by chunked matrix products.

    Args:
        fa: ``(1, C, ha, wa)`` query features. fb: ``(1, C, hb, wb)`` database features.
        patch: odd patch side.
        guide, radius: optional NNF ``(2, ha, wa)`` and window radius: candidates are limited to the
            ``(2 radius + 1)^2`` window around ``guide`` (the coarse-to-fine restriction).
        chunk: query rows per product (bounds memory at ``chunk * hb * wb`` floats).

    Returns:
        ``nnf`` ``(2, ha, wa)`` long absolute coordinates in ``fb`` and ``dist`` ``(ha, wa)``, the
        patch distance (mean over pixels valid in both patches of the squared feature distance).
    """
    ha, wa = fa.shape[-2:]
    wb = fb.shape[-1]
    best_i = torch.empty(ha * wa, dtype=torch.long, device=fa.device)
    best_d = fa.new_empty(ha * wa)
    for s, e, d in _distance_rows(fa, fb, patch, guide, radius, chunk):
        best_d[s:e], best_i[s:e] = d.min(1)
    nnf = torch.stack([best_i % wb, best_i // wb]).view(2, ha, wa)
    return nnf, best_d.clamp_min(0).view(ha, wa)


def cost_volume(
    fa: torch.Tensor,
    fb: torch.Tensor,
    patch: int,
    *,
    guide: torch.Tensor | None = None,
    radius: int | None = None,
    chunk: int = 2048,
) -> torch.Tensor:
    """Every patch distance of :func:`exact_search` at once: ``(ha*wa, hb*wb)`` (row-major pixels,
    ``inf`` outside the optional window ``guide +- radius``). Memory ``ha wa hb wb`` floats: meant
    for the coarsest level."""
    ha, wa = fa.shape[-2:]
    hb, wb = fb.shape[-2:]
    out = fa.new_empty(ha * wa, hb * wb)
    for s, e, d in _distance_rows(fa, fb, patch, guide, radius, chunk):
        out[s:e] = d
    return out
