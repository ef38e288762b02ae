"""Soft mutual nearest neighbours and the latent swap of COAT (Jeon et al., BMVC 2022, section 3.1).

For features ``F_1`` ``(C, N1)`` and ``F_2`` ``(C, N2)`` of one scale:

- Eq. 1, cosine similarity ``S(i, j) = <F_1(i), F_2(j)> / (|F_1(i)| |F_2(j)|)``;
- Eq. 2, soft mutual consistency ``Q(i, j) = S(i, j)^2 / (max_k S(k, j) * max_k S(i, k))``, which is 1
  exactly on mutual nearest neighbours; the confident set keeps the pairs with ``Q >= t`` (``t = 1``: the
  mutual nearest neighbours, the paper's set);
- Eq. 3, the latent swap: the aligned map takes ``F_2(j)`` at every ``i`` of the confident set and
  keeps ``F_1(i)`` elsewhere.

``S`` is never held whole: it is computed ``chunk`` rows at a time (memory ``chunk * N2`` floats), once
for the row and column maxima and, for a relaxed threshold, once more for ``Q``. Negative similarities
(possible for signed features) count as 0, so ``Q`` stays in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def soft_mutual(sim: torch.Tensor) -> torch.Tensor:
    """``Q`` of Eq. 2 for a whole similarity matrix ``(N1, N2)``: ``(N1, N2)`` in [0, 1].

    Written as ``(S / row max) * (S / column max)``: each factor is exactly 1 at its maximum and below
    1 elsewhere, so ``Q == 1`` exactly on mutual nearest neighbours, with no rounding in between.
    """
    s = sim.clamp_min(0)
    row = s.amax(dim=1, keepdim=True).clamp_min(1e-12)
    col = s.amax(dim=0, keepdim=True).clamp_min(1e-12)
    return (s / row) * (s / col)


@dataclass(frozen=True)
class Confident:
    """The confident correspondences of one scale.

    Attributes:
        index: ``(N1,)`` int64, for every position ``i`` of ``F_1`` a ``j`` of ``F_2``: the one with the
            highest ``Q(i, j)`` for a threshold below 1, the nearest neighbour (highest ``S(i, j)``)
            for a threshold of 1, which saves a second pass over ``S``; both agree on the confident set.
        q: ``(N1,)`` ``Q(i, index[i])``.
        mask: ``(N1,)`` bool, ``q >= threshold``: the positions whose feature is swapped.
        pairs: number of pairs ``(i, j)`` with ``Q(i, j) >= threshold`` (several ``j`` may pass for
            one ``i`` when the threshold is below 1; the swap uses the best).
    """

    index: torch.Tensor
    q: torch.Tensor
    mask: torch.Tensor
    pairs: int


def _unit(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return F.normalize(x.float(), dim=0).to(dtype)


def confident_set(
    feat_1: torch.Tensor,
    feat_2: torch.Tensor,
    threshold: float = 1.0,
    *,
    chunk: int = 2048,
    dtype: torch.dtype = torch.float32,
) -> Confident:
    """Confident correspondences ``{(i, j) : Q(i, j) >= threshold}`` between ``(C, N1)`` and ``(C, N2)``.

    Args:
        feat_1, feat_2: features of the content and of the style at one scale (same ``C``).
        threshold: ``t`` in (0, 1]; 1 keeps the mutual nearest neighbours (Eq. 2 exactly).
        chunk: rows of ``S`` per matrix product; memory is about ``chunk * N2`` floats.
        dtype: dtype of the products (``torch.bfloat16`` is several times faster on CPUs with bf16
            instructions and far slower on others: callers take it from :mod:`analogist.features.precision`).

    Returns:
        :class:`Confident` on ``feat_1``'s device.
    """
    if feat_1.dim() != 2 or feat_2.dim() != 2 or feat_1.shape[0] != feat_2.shape[0]:
        raise ValueError(f"features must be (C, N1) and (C, N2), got {tuple(feat_1.shape)} and {tuple(feat_2.shape)}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    a = _unit(feat_1, dtype).T.contiguous()  # (N1, C)
    b = _unit(feat_2, dtype).contiguous()  # (C, N2)
    n1, n2 = a.shape[0], b.shape[1]
    dev = feat_1.device
    row = torch.empty(n1, device=dev)
    arg = torch.empty(n1, dtype=torch.int64, device=dev)
    col = torch.zeros(n2, device=dev)
    for s in range(0, n1, chunk):
        sim = (a[s : s + chunk] @ b).float().clamp_min_(0)
        row[s : s + chunk], arg[s : s + chunk] = sim.max(dim=1)
        col = torch.maximum(col, sim.amax(dim=0))
    row_c, col_c = row.clamp_min(1e-12), col.clamp_min(1e-12)
    if threshold >= 1.0:
        # Q(i, j) = 1 only at the row maximum, where it is row / col[j]: no second pass needed
        q = (row / row_c) * (row / col_c[arg])
        mask = q >= 1.0
        return Confident(arg, q, mask, int(mask.sum()))
    q = torch.empty(n1, device=dev)
    pairs = 0
    for s in range(0, n1, chunk):
        sim = (a[s : s + chunk] @ b).float().clamp_min_(0)
        qs = (sim / row_c[s : s + chunk, None]) * (sim / col_c[None])
        pairs += int((qs >= threshold).sum())
        q[s : s + chunk], arg[s : s + chunk] = qs.max(dim=1)
    return Confident(arg, q, q >= threshold, pairs)


def capped_grid(grid: tuple[int, ...], max_cells: int) -> tuple[int, int]:
    """``grid`` ``(h, w)`` halved (rounding up) until it has at most ``max_cells`` cells: the cost of
    ``S`` grows with the square of the cells."""
    h, w = grid
    while h * w > max_cells and min(h, w) > 1:
        h, w = (h + 1) // 2, (w + 1) // 2
    return h, w


def refine_index(
    index: torch.Tensor,
    grid_1: tuple[int, int],
    grid_2: tuple[int, int],
    fine_1: tuple[int, int],
    fine_2: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Matches ``index`` ``(h1 * w1,)`` of a coarse grid pair ``grid_1``, ``grid_2`` carried to finer grids
    ``fine_1``, ``fine_2`` (as fine or finer, about whole multiples): every fine position takes its
    cell's match, at the same offset inside the matched cell. Returns the fine matches ``(H1 * W1,)``
    and every fine position's coarse cell ``(H1 * W1,)``, to carry any per-cell value along."""
    (h1, w1), (h2, w2) = fine_1, fine_2
    ry, rx = max(1, h1 // grid_1[0]), max(1, w1 // grid_1[1])
    dev = index.device
    ys, xs = torch.arange(h1, device=dev), torch.arange(w1, device=dev)
    cell = (ys[:, None] // ry).clamp_max(grid_1[0] - 1) * grid_1[1] + (xs[None] // rx).clamp_max(grid_1[1] - 1)
    j = index[cell]
    ty = ((j // grid_2[1]) * ry + ys[:, None] % ry).clamp_max(h2 - 1)
    tx = ((j % grid_2[1]) * rx + xs[None] % rx).clamp_max(w2 - 1)
    return (ty * w2 + tx).reshape(-1), cell.reshape(-1)


def refine(
    conf: Confident, grid_1: tuple[int, int], grid_2: tuple[int, int], fine_1: tuple[int, int], fine_2: tuple[int, int]
) -> Confident:
    """A confident set of a coarse grid pair carried to finer grids (:func:`refine_index`), with its
    cell's ``q`` and mask; ``pairs`` counts the fine positions in the set."""
    index, cell = refine_index(conf.index, grid_1, grid_2, fine_1, fine_2)
    mask = conf.mask[cell]
    return Confident(index, conf.q[cell], mask, int(mask.sum()))


def latent_swap(feat_1: torch.Tensor, feat_2: torch.Tensor, conf: Confident) -> torch.Tensor:
    """Eq. 3: ``(1, C, h1, w1)`` map taking ``feat_2`` ``(1, C, h2, w2)`` at the positions of the
    confident set and ``feat_1`` ``(1, C, h1, w1)`` elsewhere."""
    c = feat_1.shape[1]
    f1 = feat_1.reshape(c, -1)
    moved = feat_2.reshape(c, -1).index_select(1, conf.index).to(f1.dtype)
    return torch.where(conf.mask[None], moved, f1).reshape(feat_1.shape)


__all__ = ["soft_mutual", "Confident", "confident_set", "capped_grid", "refine_index", "refine", "latent_swap"]
