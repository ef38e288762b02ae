"""A finer last step for SAM-Net's field: one windowed soft-argmax on a finer feature grid.

SAM-Net matches on EfficientNet-Lite0's stage5 (stride 16: a 28x28 grid at 448 px), so its matches
are placed to within a fraction of a 16-px cell by the soft-argmax and the affine fit. Keypoint
figures that count an eye or a jaw point as right within 5-10 % of a face box (a cell or less)
reward placing them better. The step here carries the field to a stride-8 grid, searches a small
window around each fine cell's current match on a hypercolumn (the fine layer and the matched layer,
each L2-normalised per position, so that neither dominates by its scale), and fits the training-free
G again on the fine grid so the result stays a smooth field of local affine transforms.

Fine features repeat where the picture does (windows of a facade, tiles, brick), so a window can hold
a second peak one period away that scores a little higher than the right one. A Gaussian prior on the
distance from the coarse match (``prior_sigma`` fine cells) lets the step move a match only where the
fine evidence clearly says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ...errors import InputError
from ...matching.affine_field import (
    field_at,
    field_targets,
    field_to_flow,
    identity_field,
    l2_normalize_window,
    self_window,
    soft_argmax,
    window_correlation,
    window_offsets,
)
from .fold_fit import fold_aware_fit

if TYPE_CHECKING:
    from .params import SAMNetParams

#: Layers of the finer last step per backbone when ``SAMNetParams.refine`` is ``auto`` (the first sets the
#: fine grid, ``*w`` weighs a layer; see docs/benchmarks.md for the measurements); a backbone not listed
#: gets none.
DEFAULT_REFINE: dict[str, str] = {"efficientnet-lite0": "stage3+stage4+stage5*2"}


def refine_spec(refine: str, backbone: str) -> list[tuple[str, float]]:
    """The ``(layer, weight)`` pairs ``SAMNetParams.refine`` names: ``'+'``-joined layers, each optionally
    ``name*weight`` (default 1); ``auto``: :data:`DEFAULT_REFINE`; ``''``: none."""
    spec = DEFAULT_REFINE.get(backbone, "") if refine == "auto" else refine
    out = []
    for part in filter(None, spec.split("+")):
        name, _, weight = part.partition("*")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            w = -1.0
        if not name or not w > 0:
            raise InputError(f"refine layer {part!r}: expected NAME or NAME*WEIGHT with a positive weight")
        out.append((name, w))
    return out


def distance_prior(corr: torch.Tensor, radius: int, beta: float, sigma: float) -> torch.Tensor:
    """Window correlations ``(K, h, w)`` with a Gaussian prior of ``sigma`` cells on the offset folded in,
    so that ``softmax(beta * out)`` is the likelihood times the prior (``sigma <= 0``: unchanged)."""
    if sigma <= 0:
        return corr
    d2 = (window_offsets(radius, corr) ** 2).sum(-1)
    return corr - d2[:, None, None] / (2 * sigma**2 * beta)


def hypercolumn(features: list[torch.Tensor], size: tuple[int, int], weights: list[float]) -> torch.Tensor:
    """Features ``[(1, C_i, h_i, w_i)]`` resampled to ``size`` ``(h, w)``, each L2-normalised per position
    and scaled by its weight, concatenated: ``(1, sum C_i, h, w)``."""
    parts = []
    for f, wgt in zip(features, weights):
        if tuple(f.shape[-2:]) != tuple(size):
            f = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
        parts.append(F.normalize(f, dim=1) * wgt)
    return torch.cat(parts, 1)


def carry_field(
    field: torch.Tensor, grid_t: tuple[int, int], fine_s: tuple[int, int], fine_t: tuple[int, int]
) -> torch.Tensor:
    """The matches ``(2, hf, wf)`` a coarse field ``(6, h, w)`` into ``grid_t`` gives each cell of a finer
    source grid ``fine_s``, in cells of the finer target grid ``fine_t`` (cell centres aligned)."""
    flow = field_to_flow(field, grid_t, fine_s, fine_t)  # a fine grid is an image whose pixels are cells
    return field_targets(identity_field(fine_s, like=field)) + flow


def carry_linear(
    field: torch.Tensor, grid_t: tuple[int, int], fine_s: tuple[int, int], fine_t: tuple[int, int]
) -> torch.Tensor:
    """A field ``(6, hf, wf)`` over ``fine_s`` whose linear parts are those of ``field`` ``(6, h, w)`` (into
    ``grid_t``) at each fine cell, in fine cells of ``fine_t`` (the translations are not carried)."""
    h, w = field.shape[-2:]
    up = field_at(field, fine_s)[0]
    kx, ky = fine_t[1] / grid_t[1], fine_t[0] / grid_t[0]  # target scale
    sx, sy = fine_s[1] / w, fine_s[0] / h  # source scale
    out = torch.zeros_like(up)
    out[0], out[1], out[3], out[4] = up[0] * kx / sx, up[1] * kx / sy, up[3] * ky / sx, up[4] * ky / sy
    return out


def refine_field(
    field: torch.Tensor,
    grid_t: tuple[int, int],
    fs: torch.Tensor,
    ft: torch.Tensor,
    *,
    radius: int = 2,
    beta: float = 50.0,
    kernel_sigma: float = 1.0,
    fit_radius: int = 2,
    ridge: float = 0.1,
    prior_sigma: float = 0.0,
    fold_rounds: int = 0,
    smooth: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Refine a coarse field ``(6, h, w)`` into ``grid_t`` on fine features ``fs`` ``(1, C, hf, wf)`` and
    ``ft`` ``(1, C, htf, wtf)``; returns the fine field ``(6, hf, wf)`` into ``(htf, wtf)`` and the
    confidence ``(hf, wf)`` of each fine cell's match (the softmax at it, as SAM-Net's Eq. 9).

    The window is ``(2 radius + 1)^2`` fine cells; the source's soft-argmax against itself is subtracted
    (as SAM-Net's loop does) so that a perfect match stays where it is; ``prior_sigma`` (fine cells,
    0: none) weighs each offset by its distance from the current match (:func:`distance_prior`).
    """
    fine_s, fine_t = tuple(fs.shape[-2:]), tuple(ft.shape[-2:])
    centres = carry_field(field, grid_t, fine_s, fine_t)
    corr = window_correlation(fs, ft, centres, radius)
    corr = distance_prior(l2_normalize_window(corr), radius, beta, prior_sigma)
    disp, conf, _ = soft_argmax(corr, radius, beta, kernel_sigma)
    own = distance_prior(self_window(fs, radius), radius, beta, prior_sigma)
    bias, _, _ = soft_argmax(own, radius, beta, kernel_sigma)
    scale = torch.tensor([fine_t[1] / fine_s[1], fine_t[0] / fine_s[0]], dtype=fs.dtype, device=fs.device)
    prior = identity_field(fine_s, fine_t, like=fs)
    if fold_rounds > 0:  # the ridge pulls toward the coarse field's linear parts
        prior = carry_linear(field, grid_t, fine_s, fine_t)
    matches = centres + disp - bias * scale[:, None, None]
    anchor = centres
    if fold_rounds > 0 and smooth > fit_radius:
        # where the fine fit folds it leans on a smoother fine fit, which leans on the coarse field
        anchor = field_targets(fold_aware_fit(matches, conf, centres, smooth, ridge, prior, fold_rounds))
    fine = fold_aware_fit(matches, conf, anchor, fit_radius, ridge, prior, fold_rounds)
    return fine, conf


def refine_step(
    field: torch.Tensor,
    grid_t: tuple[int, int],
    feats_s: dict[str, torch.Tensor],
    feats_t: dict[str, torch.Tensor],
    layers: list[tuple[str, float]],
    params: SAMNetParams,
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """SAM-Net's finer last step on the hypercolumn of ``layers`` (``(name, weight)``; source and target
    features by layer name; the first layer sets the grids):
    ``(fine field (6, hf, wf), confidence (hf, wf), (htf, wtf))``."""
    names, weights = [n for n, _ in layers], [w for _, w in layers]
    grid_f, grid_ft = tuple(feats_s[names[0]].shape[-2:]), tuple(feats_t[names[0]].shape[-2:])
    hs = hypercolumn([feats_s[n] for n in names], grid_f, weights)
    ht = hypercolumn([feats_t[n] for n in names], grid_ft, weights)
    fine, conf = refine_field(
        field,
        grid_t,
        hs,
        ht,
        radius=params.refine_radius,
        beta=params.beta,
        kernel_sigma=params.kernel_sigma,
        fit_radius=params.refine_fit_radius,
        ridge=params.ridge,
        prior_sigma=params.refine_prior,
        fold_rounds=params.fold_rounds,
        smooth=params.refine_smooth,
    )
    return fine, conf, grid_ft


__all__ = [
    "DEFAULT_REFINE",
    "refine_spec",
    "distance_prior",
    "hypercolumn",
    "carry_field",
    "refine_field",
    "refine_step",
]
