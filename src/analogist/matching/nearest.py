"""Exact cosine nearest neighbours between two sets of feature vectors, in memory-bounded chunks."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nearest_neighbours(
    feat_a: torch.Tensor, feat_b: torch.Tensor, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """For every column of ``feat_a`` the most cosine-similar column of ``feat_b``.

    Exact search by matrix products over ``chunk`` columns of ``feat_a`` at a time, so memory stays
    at ``chunk * Nb`` similarities whatever the sizes. Ties go to the lowest index (deterministic).

    Args:
        feat_a: ``(C, Na)`` query features.
        feat_b: ``(C, Nb)`` reference features (same ``C``).
        chunk: queries per matrix product (>= 1).

    Returns:
        ``indices`` ``(Na,)`` int64 into ``feat_b``'s columns and ``similarity`` ``(Na,)`` their cosine
        similarity in [-1, 1]. All-zero vectors have similarity 0 to everything.
    """
    if feat_a.dim() != 2 or feat_b.dim() != 2 or feat_a.shape[0] != feat_b.shape[0]:
        raise ValueError(
            f"features must be (C, Na) and (C, Nb) with equal C, got {tuple(feat_a.shape)} and {tuple(feat_b.shape)}"
        )
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    a = F.normalize(feat_a.float(), dim=0)
    b = F.normalize(feat_b.float(), dim=0)
    na = a.shape[1]
    indices = torch.empty(na, dtype=torch.int64, device=a.device)
    similarity = torch.empty(na, dtype=torch.float32, device=a.device)
    bt = b.T.contiguous()  # (Nb, C): one GEMM per chunk gives (Nb, chunk)
    for start in range(0, na, chunk):
        sim = bt @ a[:, start : start + chunk]  # (Nb, n)
        best, idx = sim.max(dim=0)
        indices[start : start + chunk] = idx
        similarity[start : start + chunk] = best
    return indices, similarity


__all__ = ["nearest_neighbours"]
