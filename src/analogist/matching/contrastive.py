"""Correspondence contrastive loss with hard negatives ranked by similarity (COAT, Eq. 7).

For query features whose true match among a set of keys is known (synthetic warps give it), the
loss is InfoNCE over the positive and the ``k`` keys most similar to the query that lie farther than
``radius`` cells from the positive (the hard negatives: the places a nearest-neighbour search would
confuse with the true one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hard_negatives(
    sim: torch.Tensor, positive: torch.Tensor, key_xy: torch.Tensor, k: int, radius: float
) -> torch.Tensor:
    """Indices ``(Q, k)`` of the ``k`` keys of highest similarity ``sim`` ``(Q, N)`` whose grid
    position ``key_xy`` ``(N, 2)`` is more than ``radius`` from the positive's (``positive`` ``(Q,)``)."""
    far = torch.cdist(key_xy[positive].float(), key_xy.float()) > radius  # (Q, N)
    masked = sim.detach().masked_fill(~far, float("-inf"))
    return masked.topk(min(k, sim.shape[1]), dim=1).indices


def contrastive_loss(
    query: torch.Tensor,
    keys: torch.Tensor,
    positive: torch.Tensor,
    key_xy: torch.Tensor,
    *,
    k: int = 16,
    radius: float = 1.5,
    tau: float = 0.1,
) -> torch.Tensor:
    """Mean InfoNCE of queries ``(Q, d)`` against keys ``(N, d)`` with true matches ``positive`` ``(Q,)``
    and hard negatives from :func:`hard_negatives` (cosine similarities divided by ``tau``)."""
    sim = F.normalize(query, dim=1) @ F.normalize(keys, dim=1).T  # (Q, N)
    neg = hard_negatives(sim, positive, key_xy, k, radius)
    logits = torch.cat([sim.gather(1, positive[:, None]), sim.gather(1, neg)], dim=1) / tau
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.int64, device=query.device))


__all__ = ["hard_negatives", "contrastive_loss"]
