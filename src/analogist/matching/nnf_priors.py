"""Priors on a cost volume: forward-backward consistency and coherence (iterated conditional modes).

Part of :mod:`analogist.matching.nnf` (import the names from there); used at the coarsest level of
Deep Image Analogy, where a full cost volume fits in memory.
"""

from __future__ import annotations

import torch


def consistency_cost(
    cost: torch.Tensor, partner: torch.Tensor, shape_q: tuple[int, int], weight: float, trunc: float
) -> torch.Tensor:
    """``cost`` ``(hq*wq, ht*wt)`` plus ``weight * min(|partner[t] - q|_1, trunc)``: a candidate ``t``
    for query ``q`` costs more the farther the opposite NNF ``partner`` ``(2, ht, wt)`` (target ->
    query coordinates) sends ``t`` from ``q`` (forward-backward consistency)."""
    hq, wq = shape_q
    q = torch.arange(hq * wq, device=cost.device)
    qx, qy = (q % wq).to(cost.dtype), (q // wq).to(cost.dtype)
    px, py = partner[0].flatten().to(cost.dtype), partner[1].flatten().to(cost.dtype)
    far = ((px[None] - qx[:, None]).abs() + (py[None] - qy[:, None]).abs()).clamp_max_(trunc)
    return cost + weight * far


def coherent_nnf(
    cost: torch.Tensor,
    shape_a: tuple[int, int],
    shape_b: tuple[int, int],
    weight: float,
    *,
    trunc: float = 2.0,
    iters: int = 6,
) -> torch.Tensor:
    """NNF ``(2, ha, wa)`` minimising patch cost plus a coherence prior, by iterated conditional modes.

    Energy: ``sum_p cost[p, q_p] + weight * sum_{p~n} min(|d_p - d_n|_1, trunc)`` over 8-neighbours,
    where ``d_p = q_p - s(p)`` is the displacement (``s`` scales A's grid onto B's). The exact nearest
    neighbour starts; pixels update in a checkerboard so that neighbours never move together.

    Why: at the coarsest level many regions (flat hair, skin, background) have nearly equally good
    matches all over the other image; the unregularised minimum then scatters isolated cells into
    unrelated regions, and Deep Image Analogy's reconstruction locks those errors in at every finer
    level. A small prior makes ties and near-ties follow the neighbours (``weight = 0``: exact NN).

    Args:
        cost: ``(ha*wa, hb*wb)`` patch distances (:func:`cost_volume`).
        shape_a, shape_b: ``(ha, wa)`` and ``(hb, wb)``.
        weight: prior per neighbour and cell of displacement difference (cost units).
        trunc: displacement difference (cells) beyond which the penalty stops growing, so that
            true discontinuities (object boundaries) stay possible.
    """
    (ha, wa), (hb, wb) = shape_a, shape_b
    best = cost.argmin(1)
    if weight <= 0 or iters <= 0:
        return torch.stack([best % wb, best // wb]).view(2, ha, wa)
    dev = cost.device
    ys, xs = torch.meshgrid(torch.arange(ha, device=dev), torch.arange(wa, device=dev), indexing="ij")
    s_a = torch.stack([xs.flatten() * (wb / wa), ys.flatten() * (hb / ha)], 1)  # (Na, 2) A on B's grid
    q_b = torch.arange(hb * wb, device=dev)
    q_b = torch.stack([q_b % wb, q_b // wb], 1).to(cost.dtype)  # (Nb, 2)
    color = ((ys + xs) % 2).flatten()
    neigh = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    for _ in range(iters):
        changed = False
        for c in (0, 1):
            disp = (q_b[best] - s_a).view(ha, wa, 2)
            idx = (color == c).nonzero().squeeze(1)
            py, px = idx // wa, idx % wa
            total = cost[idx].clone()
            cand_x = q_b[:, 0][None] - s_a[idx, 0][:, None]  # candidate displacements (P, Nb)
            cand_y = q_b[:, 1][None] - s_a[idx, 1][:, None]
            for dy, dx in neigh:
                ny, nx = py + dy, px + dx
                ok = ((ny >= 0) & (ny < ha) & (nx >= 0) & (nx < wa)).to(cost.dtype)
                d_n = disp[ny.clamp(0, ha - 1), nx.clamp(0, wa - 1)]  # (P, 2)
                diff = ((cand_x - d_n[:, 0:1]).abs() + (cand_y - d_n[:, 1:2]).abs()).clamp_max_(trunc)
                total += diff * (weight * ok)[:, None]
            new = total.argmin(1)
            changed |= bool((new != best[idx]).any())
            best[idx] = new
        if not changed:
            break
    return torch.stack([best % wb, best // wb]).view(2, ha, wa)
