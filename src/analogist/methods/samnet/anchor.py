"""A fold-aware fit for SAM-Net's field: where the new fit folds, it leans on the field it refines.

The training-free G fits each cell's affine to the matches of its neighbours, weighted by their
confidences. Where a neighbourhood's matches are weak or cross (background, hair, a letterbox band)
neighbouring fits disagree by more than a cell and the map they interpolate folds. Here every cell also
carries a pseudo-match on an *anchor*, the map the fit refines (the previous iteration's field, the
coarse field under the finer step, a global similarity of the best buddies under the start), weighted
``base * (1 - confidence)``; after each fit the cells whose map folds (negative Jacobian determinant,
sampled twice per cell as the gallery's fold measure samples the finer grid) and their neighbours get
a heavier anchor, and the fit is made again, up to ``rounds`` times. Where the new matches keep the map
one-to-one nothing changes; where they would fold it, the field stays near the one it refines, which
is fold-free when that one is. Two observations of one cell combine into one (their weighted mean,
with the summed weight), so the fit itself is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ...matching.affine_field import apply_field, fit_affine_field
from ...matching.flow import identity_grid
from ...synthesis.warp import sample

if TYPE_CHECKING:
    from .params import SAMNetParams


def global_similarity(
    targets: torch.Tensor, weights: torch.Tensor, rounds: int = 3, fallback: torch.Tensor | None = None
) -> torch.Tensor:
    """The similarity (rotation, positive scale, translation: never a mirror) of the source grid that
    best explains ``targets`` ``(2, h, w)`` under ``weights`` ``(h, w)``, by least squares reweighted
    ``rounds`` times with a Cauchy weight on the residual; returns its target for every cell."""
    h, w = targets.shape[-2:]
    xs, ys = identity_grid(h, w, dtype=torch.float64, device=targets.device)
    x, y = xs.flatten(), ys.flatten()
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    # unknowns (a, b, tx, ty): X = a x - b y + tx, Y = b x + a y + ty
    basis = torch.cat([torch.stack([x, -y, one, zero], 1), torch.stack([y, x, zero, one], 1)])
    t = targets.reshape(2, -1).double().flatten()
    base = weights.flatten().double().clamp_min(0) + 1e-6
    wt = base
    for _ in range(rounds + 1):
        sw = torch.cat([wt, wt]).sqrt()[:, None]
        sol = torch.linalg.lstsq(basis * sw, t[:, None] * sw).solution[:, 0]
        res = (basis @ sol - t).reshape(2, -1).norm(dim=0)
        wt = base / (1 + (res / res.median().clamp_min(0.5)) ** 2)
    out = (basis @ sol).reshape(2, h, w).to(targets.dtype)
    if fallback is not None:
        # a similarity that shrinks the grid to under a quarter of the fallback's scale explains nothing
        span = (fallback[:, -1, -1] - fallback[:, 0, 0]).norm() / max(((h - 1) ** 2 + (w - 1) ** 2) ** 0.5, 1)
        if float(sol[:2].norm()) < 0.25 * float(span):
            return fallback
    return out


def fold_cells(field: torch.Tensor) -> torch.Tensor:
    """Cells ``(h, w)`` of ``field`` ``(6, h, w)`` where the map it interpolates folds: its Jacobian
    determinant, by central differences on two samples per cell, is negative in the cell."""
    h, w = field.shape[-2:]
    gx = (torch.arange(2 * w, dtype=field.dtype, device=field.device) + 0.5) / 2 - 0.5
    gy = (torch.arange(2 * h, dtype=field.dtype, device=field.device) + 0.5) / 2 - 0.5
    yy, xx = torch.meshgrid(gy, gx, indexing="ij")
    pts = apply_field(sample(field[None], torch.stack([xx, yy]))[0], xx, yy)  # (2, 2h, 2w)
    dx = torch.gradient(pts, dim=2)[0]
    dy = torch.gradient(pts, dim=1)[0]
    det = dx[0] * dy[1] - dx[1] * dy[0]
    return F.max_pool2d((det < 0).to(field.dtype)[None, None], 2)[0, 0] > 0


def fold_aware_fit(
    targets: torch.Tensor,
    conf: torch.Tensor,
    anchor: torch.Tensor,
    radius: int,
    ridge: float,
    prior: torch.Tensor | None,
    *,
    base: float,
    rounds: int,
    gain: float = 4.0,
    dilate: int = 1,
) -> torch.Tensor:
    """The training-free G (:func:`~analogist.matching.affine_field.fit_affine_field`) of ``targets``
    ``(2, h, w)`` under ``conf`` ``(h, w)``, each cell pulled toward ``anchor`` ``(2, h, w)`` with weight
    ``base * (1 - conf)``, raised where the fit folds (and around), refitted up to ``rounds`` times."""
    w = conf.clamp(0, 1)
    a = base * (1 - w)
    field = fit_affine_field(*_mix(targets, w, anchor, a), radius, ridge, prior=prior)
    for _ in range(rounds):
        folded = fold_cells(field)
        if not folded.any():
            break
        near = F.max_pool2d(folded.to(w.dtype)[None, None], 2 * dilate + 1, stride=1, padding=dilate)[0, 0]
        a = a + near * gain * (a + w + 0.0625)
        field = fit_affine_field(*_mix(targets, w, anchor, a), radius, ridge, prior=prior)
    return field


def _mix(
    targets: torch.Tensor, w: torch.Tensor, anchor: torch.Tensor, a: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    total = w + a
    return (w * targets + a * anchor) / total.clamp_min(1e-12), total


def fit_field(
    targets: torch.Tensor,
    conf: torch.Tensor,
    anchor: torch.Tensor,
    radius: int,
    ridge: float,
    prior: torch.Tensor | None,
    params: SAMNetParams | None,
    stage: str = "loop",
) -> torch.Tensor:
    """SAM-Net's fit of one field: :func:`fold_aware_fit` under ``params.fold_rounds`` and
    ``params.anchor``, the plain training-free G when both are off (or without ``params``)."""
    if params is None or (params.fold_rounds <= 0 and params.anchor <= 0) or stage not in params.fold_stages:
        return fit_affine_field(targets, conf, radius, ridge, prior=prior)
    return fold_aware_fit(targets, conf, anchor, radius, ridge, prior, base=params.anchor, rounds=params.fold_rounds)


__all__ = ["fit_field", "fold_aware_fit", "fold_cells", "global_similarity"]
