"""A fold-aware fit for SAM-Net's field: where a new fit folds, it leans on the field it refines.

The training-free G fits each cell's affine to the matches of its neighbours, weighted by their
confidences. Where a neighbourhood's matches are weak or cross (background, hair, a letterbox band),
neighbouring fits disagree by more than a cell and the map they interpolate folds (its Jacobian
determinant turns negative). Here, after each fit, the cells whose map folds and their neighbours get
a pseudo-match on an *anchor* (the map the fit refines: the previous iteration's field in the loop, a
smoother fine fit in the finer step, a global similarity of the best buddies under the start), and
the fit is made again, the anchor's weight growing fivefold a round, up to ``rounds`` rounds. Where the
new matches keep the map one-to-one nothing changes; where they would fold it, the field stays near the
anchor, which is itself fold-free. Two observations of one cell combine into one (their weighted mean,
with the summed weight), so the fit itself is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...matching.affine_field import apply_field, field_at, fit_affine_field
from ...matching.flow import identity_grid


def fold_cells(field: torch.Tensor) -> torch.Tensor:
    """Cells ``(h, w)`` of ``field`` ``(6, h, w)`` where the map it interpolates folds: its Jacobian
    determinant, by central differences on two samples per cell each way (as the gallery's fold measure
    samples SAM-Net's stride-8 flow), is negative at a sample in the cell."""
    h, w = field.shape[-2:]
    up, xx, yy = field_at(field, (2 * h, 2 * w))
    pts = apply_field(up, xx, yy)  # (2, 2h, 2w)
    dx, dy = torch.gradient(pts, dim=2)[0], torch.gradient(pts, dim=1)[0]
    det = dx[0] * dy[1] - dx[1] * dy[0]
    return F.max_pool2d((det < 0).to(field.dtype)[None, None], 2)[0, 0] > 0


def fold_aware_fit(
    targets: torch.Tensor,
    conf: torch.Tensor,
    anchor: torch.Tensor,
    radius: int,
    ridge: float,
    prior: torch.Tensor | None = None,
    rounds: int = 6,
) -> torch.Tensor:
    """The training-free G (:func:`~analogist.matching.affine_field.fit_affine_field`) of ``targets``
    ``(2, h, w)`` under ``conf`` ``(h, w)``; where its map folds, the cells there and around are pulled
    toward ``anchor`` ``(2, h, w)`` and the fit is made again, up to ``rounds`` times."""
    w = conf.clamp_min(0)
    field = fit_affine_field(targets, w, radius, ridge, prior=prior)
    a = torch.zeros_like(w)
    for _ in range(rounds):
        folded = fold_cells(field)
        if not folded.any():
            break
        near = F.max_pool2d(folded.to(w.dtype)[None, None], 3, stride=1, padding=1)[0, 0]
        a = a + near * 4 * (a + w + 0.0625)
        total = w + a
        field = fit_affine_field((w * targets + a * anchor) / total.clamp_min(1e-12), total, radius, ridge, prior=prior)
    return field


def fold_aware_update(new: torch.Tensor, previous: torch.Tensor, rounds: int = 6) -> torch.Tensor:
    """A field ``(6, h, w)`` that the learned G proposed (``new``), leaning back on ``previous``
    ``(6, h, w)`` where it folds: the cells there and around move half-way back each round, up to
    ``rounds`` rounds (G's answer is kept wherever its map stays one-to-one)."""
    back = torch.zeros(new.shape[-2:], dtype=new.dtype, device=new.device)
    field = new
    for _ in range(rounds):
        folded = fold_cells(field)
        if not folded.any():
            break
        near = F.max_pool2d(folded.to(new.dtype)[None, None], 3, stride=1, padding=1)[0, 0]
        back = (back + 0.5 * near * (1 - back)).clamp(0, 1)
        field = torch.lerp(new, previous, back[None])
    return field


def global_similarity(
    targets: torch.Tensor, weights: torch.Tensor, fallback: torch.Tensor, rounds: int = 3
) -> torch.Tensor:
    """The similarity of the source grid (rotation, positive scale, translation: never a mirror) that
    best explains ``targets`` ``(2, h, w)`` under ``weights`` ``(h, w)``, by least squares reweighted
    ``rounds`` times with a Cauchy weight on the residual, as each cell's target ``(2, h, w)``;
    ``fallback`` ``(2, h, w)`` where it shrinks the grid to under a quarter of the fallback's scale (the
    targets are mirrored or collapsed, and no similarity explains them)."""
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
    span = (fallback[:, -1, -1] - fallback[:, 0, 0]).double().norm() / max(((h - 1) ** 2 + (w - 1) ** 2) ** 0.5, 1)
    if float(sol[:2].norm()) < 0.25 * float(span):
        return fallback
    return (basis @ sol).reshape(2, h, w).to(targets.dtype)


__all__ = ["fold_aware_fit", "fold_aware_update", "fold_cells", "global_similarity"]
