"""Sets of point pairs ``(N, 4)`` ``(xa, ya, xb, yb)``: without duplicates, a spread top k, and the
sparse flow they give.
"""

from __future__ import annotations

import numpy as np
import torch


def unique_pairs(points: torch.Tensor) -> torch.Tensor:
    """Indices of the first occurrence of each distinct row of ``points (M, 4)``, in order.

    Neighbouring pairs' search regions overlap, so one pair can be found from several parents.
    """
    if points.shape[0] == 0:
        return points.new_zeros(0)
    _, inverse = torch.unique(points, dim=0, return_inverse=True)
    first = points.new_full((int(inverse.max()) + 1,), points.shape[0])
    first = first.scatter_reduce(0, inverse, torch.arange(points.shape[0], device=points.device), reduce="amin")
    return first.sort().values


def pairs_flow(points: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A dense A-to-B flow on A's map from sparse pairs: each position takes the displacement of the pair
    nearest to it in A (piecewise constant, like a translation per region pair).

    Args:
        points: ``(M, 4)`` integer ``(ya, xa, yb, xb)`` map coordinates, ``M >= 1``.
        shape: ``(h, w)`` of A's map.

    Returns:
        ``(2, h, w)`` float flow ``(dx, dy)``; ``out[:, y, x]`` points from ``(x, y)`` in A into B.
    """
    from scipy.ndimage import distance_transform_edt

    h, w = shape
    points = points.cpu()  # SciPy's distance transform: the result is on the CPU
    disp = torch.zeros(2, h, w)
    # a point found in several region pairs keeps one of its displacements (the last written)
    disp[0, points[:, 0], points[:, 1]] = (points[:, 3] - points[:, 1]).float()
    disp[1, points[:, 0], points[:, 1]] = (points[:, 2] - points[:, 0]).float()
    empty = torch.ones(h, w, dtype=torch.bool)
    empty[points[:, 0], points[:, 1]] = False
    _, (iy, ix) = distance_transform_edt(empty.numpy(), return_indices=True)
    return disp[:, torch.from_numpy(iy), torch.from_numpy(ix)]


def spread_top_k(points: torch.Tensor, ranks: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """The ``k`` pairs spread over the images: k-means over the 4-D points, highest rank per cluster.

    As the authors' code does, clustering runs on the joint ``(ya, xa, yb, xb)`` positions, so the
    result is spread in both images. Clusters that come out empty are made up by the best remaining
    ranks, so ``min(k, M)`` indices are always returned, ordered by decreasing rank.

    Args:
        points: ``(M, 4)`` positions (any consistent order of coordinates).
        ranks: ``(M,)``; higher is better (Eq. 11).
    """
    m = points.shape[0]
    if k <= 0 or m == 0:
        return torch.zeros(0, dtype=torch.long)
    if m <= k:
        return torch.argsort(ranks, descending=True)
    from scipy.cluster.vq import kmeans2

    data = points.double().cpu().numpy()  # SciPy's k-means, once per run
    _, labels = kmeans2(data, k, iter=20, minit="++", rng=np.random.default_rng(seed))
    r = ranks.double().cpu().numpy()
    chosen = []
    for c in np.unique(labels):  # k iterations at most, not per pixel
        members = np.flatnonzero(labels == c)
        chosen.append(members[np.argmax(r[members])])
    chosen_set = set(int(i) for i in chosen)
    if len(chosen) < k:
        for i in np.argsort(-r, kind="stable"):
            if int(i) not in chosen_set:
                chosen.append(i)
                chosen_set.add(int(i))
                if len(chosen) == k:
                    break
    idx = torch.as_tensor(np.asarray(chosen, dtype=np.int64), device=ranks.device)
    return idx[torch.argsort(ranks[idx], descending=True)]
