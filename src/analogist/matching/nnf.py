"""Nearest-neighbour fields between feature maps: patch distances, exact search, PatchMatch, upsampling.

This module is the entry point; the parts live in :mod:`.nnf_exact` (exact search, cost volume),
:mod:`.nnf_priors` (consistency and coherence on a cost volume) and :mod:`.patchmatch`.

An NNF is a long tensor ``(2, h, w)`` of absolute ``(x, y)`` coordinates into the other map (the
conventions of :mod:`analogist.matching.flow`). Features enter as ``(1, C, h, w)``; for Deep Image
Analogy's bidirectional energy (Eq. 2) the caller concatenates the L2-normalised maps of both terms
along channels (``[F_A, F_A']`` against ``[F_B, F_B']``), so that one squared distance covers both.

The patch distance follows the authors' code: squared distances are averaged over the patch pixels
that are valid in *both* maps, so borders need no padding convention and never dominate.
"""

from __future__ import annotations

import torch

from ..features.pca import principal_axes
from ..progress import Progress, silent
from .nnf_exact import cost_volume, exact_cost, exact_search
from .nnf_priors import coherent_nnf, consistency_cost
from .patchmatch import PatchCost, clamp_nnf, patch_distance, patchmatch

#: Exact search runs whenever its matrix products cost fewer multiply-adds than this (about 1 s on
#: one core): relu5_1 and relu4_1 at 224 px, relu5_1 at 448 px; PatchMatch does the rest.
EXACT_BUDGET = 2.5e10


def normalize(feat: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Unit-length feature vectors: ``(1, C, h, w)`` divided by their per-pixel L2 norm."""
    return feat / feat.norm(dim=1, keepdim=True).clamp_min(eps)


def reduce_channels(fa: torch.Tensor, fb: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Project ``fa`` ``(1, C, ha, wa)`` and ``fb`` ``(1, C, hb, wb)`` onto their joint top ``dims``
    principal components, ``(1, dims, h, w)`` each.

    Squared distances between the projected vectors approximate the original ones (exactly, up to
    the discarded variance), so PatchMatch costs ``dims / C`` of the work per candidate.
    """
    c = fa.shape[1]
    if dims >= c:
        return fa, fb
    xa, xb = fa[0].flatten(1), fb[0].flatten(1)
    mean, axes = principal_axes(torch.cat([xa, xb], 1), dims)
    basis = axes.t()  # (dims, C)
    pa = (basis @ (xa - mean)).view(1, dims, *fa.shape[-2:])
    pb = (basis @ (xb - mean)).view(1, dims, *fb.shape[-2:])
    return pa, pb


def search(
    fa: torch.Tensor,
    fb: torch.Tensor,
    patch: int,
    *,
    guide: torch.Tensor | None = None,
    radius: int | None = None,
    iters: int = 4,
    budget: float = EXACT_BUDGET,
    dims: int | None = None,
    generator: torch.Generator | None = None,
    progress: Progress = silent,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best available NNF ``(2, ha, wa)`` and distances: exact search when it costs at most ``budget``
    multiply-adds (never worse than PatchMatch), otherwise PatchMatch started from ``guide``.

    ``guide`` (2, ha, wa) and ``radius`` restrict the search window; without a guide the search is
    global (PatchMatch then starts from the scaled identity). ``dims``: PatchMatch compares the
    top ``dims`` principal components of the features (see :func:`reduce_channels`); ``None`` = all.
    """
    if exact_cost(tuple(fa.shape), tuple(fb.shape), patch) <= budget:
        return exact_search(fa, fb, patch, guide=guide, radius=radius)
    if dims is not None:
        fa, fb = reduce_channels(fa, fb, dims)
    if guide is None:
        ha, wa = fa.shape[-2:]
        hb, wb = fb.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(ha, device=fa.device), torch.arange(wa, device=fa.device), indexing="ij")
        guide = torch.stack([xs * wb // wa, ys * hb // ha])
        radius = None
    return patchmatch(fa, fb, patch, guide, iters=iters, radius=radius, generator=generator, progress=progress)


def upsample_nnf(
    nnf: torch.Tensor, coarse_target: tuple[int, int], size: tuple[int, int], target_size: tuple[int, int]
) -> torch.Tensor:
    """Nearest-neighbour upsampling of an NNF between pyramid levels.

    Args:
        nnf: ``(2, h, w)`` long coordinates into a target map of size ``coarse_target`` ``(hb, wb)``.
        size: new query size ``(H, W)``; target_size: new target size ``(Hb, Wb)``.

    Each fine pixel inherits the match of its coarse parent, scaled, plus its own offset inside the
    parent cell, so that a coherent coarse match stays coherent at the finer level.

    Returns:
        ``(2, H, W)`` long, clamped to the new target.
    """
    h, w = nnf.shape[-2:]
    H, W = size
    hb, wb = coarse_target
    Hb, Wb = target_size
    fine_y, fine_x = torch.arange(H, device=nnf.device), torch.arange(W, device=nnf.device)
    ys, xs = fine_y * h // H, fine_x * w // W
    parent = nnf[:, ys[:, None], xs[None]]
    off_y = fine_y[:, None] - (ys[:, None] * H / h).floor().long()
    off_x = fine_x[None] - (xs[None] * W / w).floor().long()
    up = torch.stack([(parent[0] * Wb / wb).floor().long() + off_x, (parent[1] * Hb / hb).floor().long() + off_y])
    return clamp_nnf(up, Hb, Wb)


__all__ = [
    "EXACT_BUDGET",
    "normalize",
    "reduce_channels",
    "exact_cost",
    "exact_search",
    "cost_volume",
    "consistency_cost",
    "coherent_nnf",
    "PatchCost",
    "patch_distance",
    "patchmatch",
    "search",
    "upsample_nnf",
]
