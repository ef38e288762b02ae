"""Hypercolumns and their zero-centred cosine nearest neighbours (Neural Neighbor Style Transfer).

A hypercolumn stacks several VGG layers at one resolution: ``(1, sum C_l, h, w)``. Matching replaces
each content hypercolumn by the style hypercolumn of highest cosine similarity after both sets are
centred on their own means (the paper's Eq. 1), optionally mixed with a guidance term (section 5).

Unlike :func:`analogist.matching.nearest.nearest_neighbours` (plain cosine, keys normalised on every
call) the keys here are prepared once (:class:`Keys`) because the splitting phase queries the same style
set after every optimisation step, the products may run in bfloat16 (AMX on recent CPUs), and the score
can carry a guidance term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F


def hypercolumns(feats: Sequence[torch.Tensor], size: tuple[int, int], divisors: Sequence[float] | None = None) -> torch.Tensor:
    """Stack feature maps ``(B, C_l, h_l, w_l)`` into ``(B, sum C_l, *size)``.

    Each map is divided by its divisor (the authors divide by the channel count so wide layers do
    not drown narrow ones; default ``C_l``) and resized bilinearly to ``size``.
    """
    divisors = divisors if divisors is not None else [f.shape[1] for f in feats]
    out = []
    for f, d in zip(feats, divisors):
        f = f.float() / d
        if tuple(f.shape[-2:]) != tuple(size):
            f = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
        out.append(f)
    return torch.cat(out, dim=1)


def flatten(feats: torch.Tensor) -> torch.Tensor:
    """``(1, C, h, w)`` to ``(C, h*w)`` (row-major positions)."""
    return feats.reshape(feats.shape[1], -1)


def centre_normalise(x: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Columns of ``(C, N)`` minus ``mean`` (default their own mean), scaled to unit length."""
    mean = x.mean(dim=1, keepdim=True) if mean is None else mean
    return F.normalize(x - mean, dim=0)


@dataclass(frozen=True)
class Keys:
    """A reference set prepared for repeated queries.

    Attributes:
        unit: ``(C, N)`` centred unit vectors in the matching dtype. Scores are computed as
            ``(n, C) @ (C, N)`` so the argmax runs along contiguous rows (several times faster on a
            CPU than reducing over the first dimension).
        guide: ``(G, N)`` float32 guide values of the keys, or ``None``.
        guide_sq: ``(N,)`` squared norms of ``guide`` (for squared distances by one product).
    """

    unit: torch.Tensor
    guide: torch.Tensor | None
    guide_sq: torch.Tensor | None

    @classmethod
    def build(cls, feats: torch.Tensor, guide: torch.Tensor | None = None, *, dtype: torch.dtype = torch.float32) -> "Keys":
        """From key features ``(C, N)`` and optional key guides ``(G, N)``."""
        unit = centre_normalise(feats.float()).to(dtype).contiguous()
        if guide is None:
            return cls(unit, None, None)
        g = guide.float().contiguous()
        return cls(unit, g, (g * g).sum(dim=0))


def match(
    queries: torch.Tensor,
    keys: Keys,
    *,
    query_guide: torch.Tensor | None = None,
    w_cos: float = 0.5,
    w_guide: float = 0.5,
    chunk: int = 2048,
) -> torch.Tensor:
    """Index of the best key for every query: ``argmax_j w_cos cos(q_i, k_j) - w_guide |g_i - g_j|^2``.

    Queries are centred on their own mean, keys on theirs (Eq. 1 of the paper). Without guides the
    score is the plain centred cosine (the weights then do not change the argmax). With guides (RGB
    label images in [0, 1], so ``|g_i - g_j|^2`` is 0 for equal labels and 2 or more between two
    pure, different colours) the guide term outweighs the whole range of the cosine term at equal
    weights, which confines matches to the same label wherever the style has that label.

    Args:
        queries: ``(C, Nq)`` features. keys: prepared reference set.
        query_guide: ``(G, Nq)``; required exactly when ``keys`` carry guides.
        chunk: queries per matrix product; memory is about ``chunk * N`` scores.

    Returns:
        ``(Nq,)`` int64 indices into the keys.
    """
    if (query_guide is None) != (keys.guide is None):
        raise ValueError("query and key guides must be given together")
    q = centre_normalise(queries.float()).T.to(keys.unit.dtype)  # (Nq, C)
    n = q.shape[0]
    out = torch.empty(n, dtype=torch.int64)
    for s in range(0, n, chunk):
        scores = q[s:s + chunk].contiguous() @ keys.unit  # (n, N)
        if query_guide is not None:
            g = query_guide[:, s:s + chunk].float().T.contiguous()  # (n, G)
            dist = (g * g).sum(dim=1, keepdim=True) + keys.guide_sq[None] - 2.0 * (g @ keys.guide)
            scores = w_cos * scores.float() - w_guide * dist
        out[s:s + chunk] = scores.max(dim=1).indices
    return out


__all__ = ["hypercolumns", "flatten", "centre_normalise", "Keys", "match"]
