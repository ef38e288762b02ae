"""Where SAM-Net's recurrent loop starts: the identity field (the paper) or one fitted to Neural
Best-Buddies' mutual matches.

The loop only searches a 9x9 window around each cell's current match, so it refines a start but cannot
jump to a far part of the image; best buddies are sparse, mutual and reliable where they exist, so a
field fitted to them lets the loop refine a good start instead of the identity.
"""

from __future__ import annotations

import torch

from ...matching.affine_field import field_targets, fit_affine_field, identity_field
from ...matching.flow import pixel_flow_to_grid
from .fold_fit import fold_aware_fit, global_similarity


def buddies_field(
    source: torch.Tensor,
    target: torch.Tensor,
    grid_s: tuple[int, int],
    grid_t: tuple[int, int],
    *,
    backbone: str,
    weights: str | None,
    radius: int,
    ridge: float,
    kind: str = "affine",
    fold_rounds: int = 0,
) -> torch.Tensor:
    """A field ``(6, h, w)`` over ``grid_s`` into ``grid_t`` fitted to the best buddies of ``source``
    ``(1, 3, Hs, Ws)`` and ``target`` ``(1, 3, Ht, Wt)``.

    The sparse pairs are made dense by moving least squares (as the ``buddies`` matcher does, which
    weighs each pair by its inverse squared distance), sampled at the source cells and fitted by the
    training-free G's local least squares (``kind``: the moving least squares' transforms); with fewer
    than three pairs the identity field is returned. With ``fold_rounds``, the fit is fold-aware
    (:mod:`.fold_fit`) and leans where it folds on a global similarity of the same targets (the identity
    where the targets are mirrored).
    """
    from ...matching.mls import dense_flow
    from ..buddies import BuddiesParams, neural_best_buddies

    start = identity_field(grid_s, grid_t, like=source)
    found = neural_best_buddies(source, target, BuddiesParams(backbone=backbone, weights=weights))
    pts = torch.as_tensor(found.points, dtype=torch.float64).reshape(-1, 4)
    if len(pts) < 3:
        return start
    (hs, ws), (ht, wt) = source.shape[-2:], target.shape[-2:]
    flow = torch.as_tensor(dense_flow(pts[:, :2], pts[:, 2:], (hs, ws), kind, step=4))
    flow = flow.to(device=source.device, dtype=start.dtype)
    # the mean flow over each cell, then the cell centre's target in target-grid units
    targets = pixel_flow_to_grid(flow, grid_s, grid_t, (ht, wt))
    ones = torch.ones_like(targets[0])
    if fold_rounds <= 0:
        return fit_affine_field(targets, ones, radius, ridge, prior=start)
    anchor = global_similarity(targets, ones, field_targets(start))
    return fold_aware_fit(targets, 0.5 * ones, anchor, radius, ridge, start, fold_rounds)


__all__ = ["buddies_field"]
