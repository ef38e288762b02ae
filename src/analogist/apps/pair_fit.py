"""A robust global map between best buddies: which pairs agree on one deformation.

Best buddies between two different objects are noisy: many pair unrelated parts. RANSAC weighted by
rank (:func:`robust_fit`) finds the similarity (or affine map) most pairs agree with, inside a prior
of upright, similarly framed pictures; :func:`consistent` then drops the pairs that the others'
moving-least-squares deformation does not predict. :mod:`.align` and :mod:`.morph` deform through
what is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..matching.mls import Kind, leave_one_out
from ..matching.pairs import spread_top_k


@dataclass(frozen=True)
class FitParams:
    """How the pairs' global map is found and how much moving least squares adds to it."""

    #: global map: ``"similarity"`` (rotation, uniform scale, shift) or ``"affine"``
    kind: str = "similarity"
    #: a pair agrees with the global map when it lands within this share of B's diagonal
    threshold: float = 0.03
    #: leave-one-out tolerance of :func:`consistent` (share of B's diagonal)
    tol: float = 0.08
    #: fewer agreeing pairs than this: the global map alone
    min_pairs: int = 5
    #: share of the pairs' offsets from the global map that the residual deformation follows
    residual: float = 1.0
    #: prior on the global map: at most this rotation (degrees), a scale in this range, and one
    #: axis stretched at most ``anisotropy`` times the other (affine)
    max_rotation: float = 45.0
    scale_range: tuple[float, float] = (0.25, 4.0)
    anisotropy: float = 2.0
    #: RANSAC hypotheses, and whether pairs count by rank (where ranks are given)
    iters: int = 1000
    weighted: bool = True


def _lsq(p: np.ndarray, q: np.ndarray, w: np.ndarray, kind: str) -> np.ndarray:
    """``(3, 3)`` weighted least-squares map of ``p`` onto ``q`` (similarity also for collinear points)."""
    w = w / w.sum()
    pm, qm = w @ p, w @ q
    pc, qc = p - pm, q - qm
    cov = (pc * w[:, None]).T @ pc
    if kind == "affine" and np.linalg.det(cov) > 1e-9 * np.trace(cov) ** 2:
        lin = ((qc * w[:, None]).T @ pc) @ np.linalg.inv(cov)
    else:
        den = float(np.trace(cov))
        a = float(w @ (pc * qc).sum(1)) / den if den > 1e-12 else 1.0
        b = float(w @ (pc[:, 0] * qc[:, 1] - pc[:, 1] * qc[:, 0])) / max(den, 1e-12)
        lin = np.array([[a, -b], [b, a]])
    m = np.eye(3)
    m[:2, :2], m[:2, 2] = lin, qm - lin @ pm
    return m


def _plausible(lin: np.ndarray, prm: FitParams) -> np.ndarray:
    """Which ``(H, 2, 2)`` linear maps fit the prior: pictures people pair are upright, framed alike."""
    det = np.linalg.det(lin)
    angle = np.degrees(np.arctan2(lin[:, 1, 0] - lin[:, 0, 1], lin[:, 0, 0] + lin[:, 1, 1]))
    sv = np.linalg.svd(lin, compute_uv=False)
    scale = np.sqrt(np.clip(det, 0, None))
    ok = (det > 0) & (np.abs(angle) <= prm.max_rotation) & (sv[:, 0] <= prm.anisotropy * sv[:, 1])
    return ok & (scale >= prm.scale_range[0]) & (scale <= prm.scale_range[1])


def robust_fit(
    src: torch.Tensor,
    dst: torch.Tensor,
    threshold: float,
    weights: torch.Tensor | None = None,
    prm: FitParams = FitParams(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Global map of ``src`` onto ``dst`` (``(N, 2)``) that the most pairs agree with, and those pairs.

    RANSAC: ``prm.iters`` minimal samples (two pairs for a similarity, three for an affine map) drawn
    in proportion to ``weights``, scored by MSAC's weighted truncated quadratic loss (a pair at
    distance ``d`` counts ``1 - (d / threshold)^2``, none beyond); maps outside the prior never win.
    The winner is refitted by least squares on its inliers, twice. Deterministic (fixed seed).

    Returns:
        ``(3, 3)`` float64 map and ``(N,)`` bool inliers (within ``threshold`` pixels).
    """
    p, q = src.double().numpy().reshape(-1, 2), dst.double().numpy().reshape(-1, 2)
    n, need = p.shape[0], 2 if prm.kind == "similarity" else 3
    w = np.ones(n) if weights is None else weights.double().numpy().clip(min=0) + 1e-12
    best, best_score = (_lsq(p, q, w, prm.kind) if n else np.eye(3)), -1.0
    if not _plausible(best[None, :2, :2], prm)[0]:  # e.g. two pairs half a turn apart: a shift only
        best = np.eye(3)
        best[:2, 2] = w @ (q - p) / w.sum()
    if n > need:
        idx = np.random.default_rng(0).choice(n, size=(prm.iters, need), p=w / w.sum())
        idx = idx[np.all(np.diff(np.sort(idx, 1), axis=1) > 0, axis=1)]
        hyp = np.stack([_lsq(p[i], q[i], np.ones(need), prm.kind) for i in idx] or [np.full((3, 3), np.nan)])
        hyp = hyp[np.isfinite(hyp).all((1, 2))]
        hyp = hyp[_plausible(hyp[:, :2, :2], prm)]
        for s in range(0, len(hyp), 128):
            h = hyp[s : s + 128]
            err2 = ((np.einsum("hij,nj->hni", h[:, :2, :2], p) + h[:, None, :2, 2] - q) ** 2).sum(2)
            score = (np.clip(1 - err2 / threshold**2, 0, None) * w).sum(1)
            if score.max() > best_score:
                best, best_score = h[int(score.argmax())], float(score.max())
    for _ in range(2):
        inl = np.linalg.norm(p @ best[:2, :2].T + best[:2, 2] - q, axis=1) < threshold
        ref = _lsq(p[inl], q[inl], w[inl], prm.kind) if inl.sum() >= need else None
        if ref is None or not _plausible(ref[None, :2, :2], prm)[0]:
            break
        best = ref
    inl = np.linalg.norm(p @ best[:2, :2].T + best[:2, 2] - q, axis=1) < threshold
    return torch.from_numpy(best), torch.from_numpy(inl)


def consistent(points: torch.Tensor, tol: float = 0.08, kind: Kind = "similarity") -> torch.Tensor:
    """Boolean mask ``(N,)`` of the pairs ``(N, 4)`` ``(xa, ya, xb, yb)`` that agree with the
    deformation the other pairs imply (leave-one-out MLS); at least three stay.

    A deformation through sparse pairs folds wherever nearby pairs disagree. Each pair's B point is
    predicted from all other pairs by MLS; the pair with the worst prediction is dropped and the
    test repeats until every remaining pair is predicted within ``tol`` of B's diagonal. Meant for a
    few dozen spread pairs (it is quadratic in their number).
    """
    keep = torch.ones(points.shape[0], dtype=torch.bool)
    p = points.double()
    b = p[:, 2:4]
    diag = (float((b.max(0).values - b.min(0).values).norm()) if len(b) else 0.0) or 1.0
    while int(keep.sum()) > 3:
        idx = keep.nonzero()[:, 0]
        err = (leave_one_out(p[idx, 0:2], p[idx, 2:4], kind) - b[idx]).norm(dim=1)
        worst = int(err.argmax())
        if float(err[worst]) <= tol * diag:
            break
        keep[idx[worst]] = False
    return keep


@dataclass(frozen=True)
class PairFit:
    """A robust global map of A onto B and the pairs that agree with it."""

    #: ``(3, 3)`` float64: A pixel -> B pixel (homogeneous coordinates)
    matrix: torch.Tensor
    #: ``(N,)`` bool: within the threshold of :attr:`matrix` and through the leave-one-out test
    inliers: torch.Tensor


def spread_agreement(points: torch.Tensor, ranks: torch.Tensor, k: int) -> int:
    """Of the ``2k`` spread best pairs of ``points`` ``(N, 4)`` (by ``ranks`` ``(N,)``), how many agree on one
    deformation (:func:`consistent`), at most ``k``. Asked of all the buddies, not of the drivers: those
    are chosen among the inliers of one fitted map, so they agree by construction."""
    return min(k, int(consistent(points[spread_top_k(points, ranks, 2 * k)]).sum()))


def fit_pairs(
    points: torch.Tensor,
    ranks: torch.Tensor | None = None,
    shape_b: tuple[int, int] | None = None,
    params: FitParams = FitParams(),
) -> PairFit:
    """Robust global map of A onto B through ``points (N, 4)`` and the pairs that agree with it.

    ``ranks (N,)`` weigh the pairs; ``shape_b`` (B's ``(H, W)``) sets the thresholds' scale (default:
    the largest B coordinates, which stand in for B's extent).
    """
    b = points[:, 2:4].double()
    extent = torch.tensor(shape_b, dtype=torch.float64) if shape_b else (b.amax(0) + 1 if len(b) else torch.ones(2))
    w = ranks.double().clamp_min(0) if ranks is not None and params.weighted else None
    matrix, inl = robust_fit(points[:, 0:2], b, params.threshold * float(extent.norm()), w, params)
    if int(inl.sum()) > 3:
        idx = inl.nonzero()[:, 0]
        inl = torch.zeros_like(inl)
        inl[idx[consistent(points[idx], params.tol)]] = True
    return PairFit(matrix, inl)


def select_pairs(
    points: torch.Tensor,
    ranks: torch.Tensor,
    k: int,
    *,
    seed: int = 0,
    tol: float = 0.08,
    params: FitParams = FitParams(),
) -> torch.Tensor:
    """Indices of at most ``k`` spread, mutually consistent pairs to drive a deformation.

    Pairs that disagree with the global map of all pairs (:func:`fit_pairs`) are left out; ``2k``
    spread candidates among the rest (k-means over the 4-D points, best rank per cluster) are
    thinned by :func:`consistent`, then the best spread ``k`` of the survivors are kept.
    """
    from ..matching.pairs import spread_top_k

    pool = torch.arange(points.shape[0])
    if points.shape[0] > k:
        inl = fit_pairs(points, ranks, params=params).inliers
        if int(inl.sum()) >= min(k, params.min_pairs):
            pool = inl.nonzero()[:, 0]
    cand = pool[spread_top_k(points[pool], ranks[pool], 2 * k, seed=seed)]
    cand = cand[consistent(points[cand], tol)]
    return cand[spread_top_k(points[cand], ranks[cand], k, seed=seed)]


__all__ = ["FitParams", "PairFit", "consistent", "fit_pairs", "robust_fit", "select_pairs"]
