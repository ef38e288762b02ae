"""Nearest-neighbour fields between feature maps: patch distances, exact search, PatchMatch, upsampling.

An NNF is a long tensor ``(2, h, w)`` of absolute ``(x, y)`` coordinates into the other map (the
conventions of :mod:`analogist.matching.flow`). Features enter as ``(1, C, h, w)``; for Deep Image
Analogy's bidirectional energy (Eq. 2) the caller concatenates the L2-normalised maps of both terms
along channels (``[F_A, F_A']`` against ``[F_B, F_B']``), so that one squared distance covers both.

The patch distance follows the authors' code: squared distances are averaged over the patch pixels
that are valid in *both* maps, so borders need no padding convention and never dominate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ..progress import Progress, silent

#: Exact search runs whenever its matrix products cost fewer multiply-adds than this (about 1 s on
#: one core): relu5_1 and relu4_1 at 224 px, relu5_1 at 448 px; PatchMatch does the rest.
EXACT_BUDGET = 2.5e10


def normalize(feat: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Unit-length feature vectors: ``(1, C, h, w)`` divided by their per-pixel L2 norm."""
    return feat / feat.norm(dim=1, keepdim=True).clamp_min(eps)


def reduce_channels(fa: torch.Tensor, fb: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Project ``fa`` ``(1, C, ha, wa)`` and ``fb`` ``(1, C, hb, wb)`` onto their joint top ``dims``
    principal components, ``(1, dims, h, w)`` each.

    Squared distances between the projected vectors approximate the original ones (exactly, up to
    the discarded variance), so PatchMatch costs ``dims / C`` of the work per candidate.
    """
    c = fa.shape[1]
    if dims >= c:
        return fa, fb
    xa, xb = fa[0].flatten(1), fb[0].flatten(1)
    x = torch.cat([xa, xb], 1)
    mean = x.mean(1, keepdim=True)
    xc = x - mean
    _, vecs = torch.linalg.eigh(xc @ xc.t())
    basis = vecs[:, -dims:].t()  # (dims, C), the largest eigenvalues come last
    pa = (basis @ (xa - mean)).view(1, dims, *fa.shape[-2:])
    pb = (basis @ (xb - mean)).view(1, dims, *fb.shape[-2:])
    return pa, pb


def _offsets(patch: int) -> list[tuple[int, int]]:
    r = patch // 2
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]


def _unfold(feat: torch.Tensor, patch: int) -> torch.Tensor:
    """``(1, C, h, w)`` to zero-padded patch vectors ``(h*w, C*patch*patch)``."""
    return F.unfold(feat, patch, padding=patch // 2)[0].t()


# ------------------------------------------------------------------------------------- exact search


def exact_cost(shape_a: tuple[int, ...], shape_b: tuple[int, ...], patch: int) -> float:
    """Multiply-adds of :func:`exact_search` for features ``(1, C, ha, wa)`` against ``(1, C, hb, wb)``."""
    _, c, ha, wa = shape_a
    hb, wb = shape_b[-2:]
    return float(ha * wa) * hb * wb * (c + 2) * patch * patch


def _distance_rows(
    fa: torch.Tensor, fb: torch.Tensor, patch: int, guide: torch.Tensor | None, radius: int | None, chunk: int
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(start, end, d)``: patch distances ``d`` ``(end - start, hb*wb)`` of query rows
    ``start:end`` (mean over pixels valid in both patches; ``inf`` outside ``guide +- radius``)."""
    ha, wa = fa.shape[-2:]
    hb, wb = fb.shape[-2:]
    ones_a = fa.new_ones(1, 1, ha, wa)
    ones_b = fb.new_ones(1, 1, hb, wb)
    # patch sum of |a|^2 + |b|^2 - 2ab over pixels valid in both, as one product of augmented vectors
    qa = torch.cat([-2 * _unfold(fa, patch), _unfold(fa.pow(2).sum(1, keepdim=True), patch), _unfold(ones_a, patch)], 1)
    db = torch.cat([_unfold(fb, patch), _unfold(ones_b, patch), _unfold(fb.pow(2).sum(1, keepdim=True), patch)], 1)
    va, vb = _unfold(ones_a, patch), _unfold(ones_b, patch)
    if guide is not None and radius is not None:
        gx, gy = guide[0].reshape(-1), guide[1].reshape(-1)
        bx = torch.arange(wb).repeat(hb)
        by = torch.arange(hb).repeat_interleave(wb)
    for s in range(0, ha * wa, chunk):
        e = min(s + chunk, ha * wa)
        d = ((qa[s:e] @ db.t()) / (va[s:e] @ vb.t())).clamp_min_(0)
        if guide is not None and radius is not None:
            far = ((bx[None] - gx[s:e, None]).abs() > radius) | ((by[None] - gy[s:e, None]).abs() > radius)
            d.masked_fill_(far, math.inf)
        yield s, e, d


def exact_search(
    fa: torch.Tensor,
    fb: torch.Tensor,
    patch: int,
    *,
    guide: torch.Tensor | None = None,
    radius: int | None = None,
    chunk: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact patch nearest neighbour of every pixel of ``fa`` in ``fb``, by chunked matrix products.

    Args:
        fa: ``(1, C, ha, wa)`` query features. fb: ``(1, C, hb, wb)`` database features.
        patch: odd patch side.
        guide, radius: optional NNF ``(2, ha, wa)`` and window radius: candidates are limited to the
            ``(2 radius + 1)^2`` window around ``guide`` (the coarse-to-fine restriction).
        chunk: query rows per product (bounds memory at ``chunk * hb * wb`` floats).

    Returns:
        ``nnf`` ``(2, ha, wa)`` long absolute coordinates in ``fb`` and ``dist`` ``(ha, wa)``, the
        patch distance (mean over pixels valid in both patches of the squared feature distance).
    """
    ha, wa = fa.shape[-2:]
    wb = fb.shape[-1]
    best_i = torch.empty(ha * wa, dtype=torch.long)
    best_d = torch.empty(ha * wa)
    for s, e, d in _distance_rows(fa, fb, patch, guide, radius, chunk):
        best_d[s:e], best_i[s:e] = d.min(1)
    nnf = torch.stack([best_i % wb, best_i // wb]).view(2, ha, wa)
    return nnf, best_d.clamp_min(0).view(ha, wa)


def cost_volume(
    fa: torch.Tensor,
    fb: torch.Tensor,
    patch: int,
    *,
    guide: torch.Tensor | None = None,
    radius: int | None = None,
    chunk: int = 2048,
) -> torch.Tensor:
    """Every patch distance of :func:`exact_search` at once: ``(ha*wa, hb*wb)`` (row-major pixels,
    ``inf`` outside the optional window ``guide +- radius``). Memory ``ha wa hb wb`` floats: meant
    for the coarsest level."""
    ha, wa = fa.shape[-2:]
    hb, wb = fb.shape[-2:]
    out = fa.new_empty(ha * wa, hb * wb)
    for s, e, d in _distance_rows(fa, fb, patch, guide, radius, chunk):
        out[s:e] = d
    return out


def consistency_cost(
    cost: torch.Tensor, partner: torch.Tensor, shape_q: tuple[int, int], weight: float, trunc: float
) -> torch.Tensor:
    """``cost`` ``(hq*wq, ht*wt)`` plus ``weight * min(|partner[t] - q|_1, trunc)``: a candidate ``t``
    for query ``q`` costs more the farther the opposite NNF ``partner`` ``(2, ht, wt)`` (target ->
    query coordinates) sends ``t`` from ``q`` (forward-backward consistency)."""
    hq, wq = shape_q
    qx = (torch.arange(hq * wq) % wq).to(cost.dtype)
    qy = (torch.arange(hq * wq) // wq).to(cost.dtype)
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
    ys, xs = torch.meshgrid(torch.arange(ha), torch.arange(wa), indexing="ij")
    s_a = torch.stack([xs.flatten() * (wb / wa), ys.flatten() * (hb / ha)], 1)  # (Na, 2) A on B's grid
    q_b = torch.stack([torch.arange(hb * wb) % wb, torch.arange(hb * wb) // wb], 1).to(cost.dtype)  # (Nb, 2)
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


# ---------------------------------------------------------------------------------- patch distance


class PatchCost:
    """Patch distances from every pixel of ``fa`` to candidate positions in ``fb``.

    Holds channels-last, border-padded copies so that one candidate field costs ``patch^2`` row
    gathers (no per-pixel Python). ``fa`` ``(1, C, ha, wa)``, ``fb`` ``(1, C, hb, wb)``.
    """

    def __init__(self, fa: torch.Tensor, fb: torch.Tensor, patch: int) -> None:
        self.patch, r = patch, patch // 2
        self.ha, self.wa = fa.shape[-2:]
        self.hb, self.wb = fb.shape[-2:]
        pad = (r, r, r, r)
        # padded maps with validity and squared-norm planes: |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, so a
        # candidate costs one row gather of B and one dot product per patch offset
        self.pa = F.pad(fa, pad)[0].permute(1, 2, 0).contiguous()  # (Hp, Wp, C)
        self.pb = F.pad(fb, pad)[0].flatten(1).t().contiguous()  # (Hp*Wp, C)
        self.va = F.pad(fa.new_ones(1, 1, self.ha, self.wa), pad)[0, 0]
        self.na = F.pad(fa.pow(2).sum(1, keepdim=True), pad)[0, 0]
        self.vb = F.pad(fb.new_ones(1, 1, self.hb, self.wb), pad)[0, 0].flatten()
        self.nb = F.pad(fb.pow(2).sum(1, keepdim=True), pad)[0, 0].flatten()
        self.wpb = self.wb + 2 * r
        self.offsets = _offsets(patch)

    def __call__(self, nnf: torch.Tensor) -> torch.Tensor:
        """Patch distance ``(ha, wa)`` of the candidate field ``nnf`` ``(2, ha, wa)`` (in bounds)."""
        r, ha, wa = self.patch // 2, self.ha, self.wa
        base_b = ((nnf[1] + r) * self.wpb + nnf[0] + r).flatten()
        total = torch.zeros(ha, wa)
        count = torch.zeros(ha, wa)
        for dy, dx in self.offsets:
            ib = base_b + (dy * self.wpb + dx)
            ys, xs = slice(r + dy, r + dy + ha), slice(r + dx, r + dx + wa)
            valid = self.va[ys, xs] * self.vb[ib].view(ha, wa)
            dot = (self.pa[ys, xs] * self.pb.index_select(0, ib).view(ha, wa, -1)).sum(-1)
            total += valid * (self.na[ys, xs] + self.nb[ib].view(ha, wa) - 2 * dot)
            count += valid
        return (total / count).clamp_min(0)


def patch_distance(fa: torch.Tensor, fb: torch.Tensor, nnf: torch.Tensor, patch: int) -> torch.Tensor:
    """Patch distance ``(ha, wa)`` between ``fa`` ``(1, C, ha, wa)`` and ``fb`` at ``nnf`` ``(2, ha, wa)``."""
    return PatchCost(fa, fb, patch)(nnf)


# ---------------------------------------------------------------------------------------- PatchMatch


def _clamp(nnf: torch.Tensor, hb: int, wb: int) -> torch.Tensor:
    return torch.stack([nnf[0].clamp(0, wb - 1), nnf[1].clamp(0, hb - 1)])


def _window(nnf: torch.Tensor, guide: torch.Tensor | None, radius: int | None) -> torch.Tensor:
    if guide is None or radius is None:
        return nnf
    return torch.minimum(torch.maximum(nnf, guide - radius), guide + radius)


def _shift(t: torch.Tensor, dy: int, dx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``t[..., y + dy, x + dx]`` for every ``(y, x)`` (replicated at borders) and a mask of real reads."""
    h, w = t.shape[-2:]
    ys = (torch.arange(h) + dy).clamp(0, h - 1)
    xs = (torch.arange(w) + dx).clamp(0, w - 1)
    inside = (((torch.arange(h) + dy) >= 0) & ((torch.arange(h) + dy) < h))[:, None] & (
        ((torch.arange(w) + dx) >= 0) & ((torch.arange(w) + dx) < w)
    )[None]
    return t[..., ys[:, None], xs[None]], inside


def patchmatch(
    fa: torch.Tensor,
    fb: torch.Tensor,
    patch: int,
    init: torch.Tensor,
    *,
    iters: int = 4,
    radius: int | None = None,
    search_radius: int | None = None,
    samples: int = 1,
    generator: torch.Generator | None = None,
    progress: Progress = silent,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectorised PatchMatch: whole-image propagation (jump flooding) and random search.

    Every iteration, each pixel considers its neighbours' matches shifted back by the jump
    (jumps halve from ``2^(iters-1)`` to 1, the jump-flooding schedule that lets good matches cross
    the image in ``log`` steps), then ``samples`` random candidates around its current match at each
    window size ``search_radius, /2, /4, ..., 1`` (PatchMatch's random search); all pixels update at
    once.

    Args:
        fa: ``(1, C, ha, wa)`` query features; fb: ``(1, C, hb, wb)`` database features.
        init: starting NNF ``(2, ha, wa)`` (long, absolute coordinates in ``fb``); also the centre of
            the allowed window when ``radius`` is given.
        radius: restrict matches to ``init +- radius`` (the paper's per-layer search radius).
        search_radius: initial random-search window (default ``radius`` or the map size).

    Returns:
        ``nnf`` ``(2, ha, wa)`` long and ``dist`` ``(ha, wa)``.
    """
    hb, wb = fb.shape[-2:]
    cost = PatchCost(fa, fb, patch)
    guide = init.clone() if radius is not None else None
    nnf = _clamp(init.long(), hb, wb)
    dist = cost(nnf)
    gen = generator or torch.Generator().manual_seed(0)
    window = search_radius or radius or max(hb, wb)

    def consider(cand: torch.Tensor, nnf: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cand = _clamp(_window(cand, guide, radius), hb, wb)
        d = cost(cand)
        better = d < dist
        return torch.where(better, cand, nnf), torch.where(better, d, dist)

    for it in progress(range(iters), total=iters, desc="patchmatch"):
        jump = 2 ** max(iters - 1 - it, 0)
        for dy, dx in ((0, -jump), (-jump, 0), (0, jump), (jump, 0)):
            neigh, inside = _shift(nnf, dy, dx)
            cand = neigh - torch.tensor([dx, dy]).view(2, 1, 1)
            cand = torch.where(inside, cand, nnf)
            nnf, dist = consider(cand, nnf, dist)
        span = float(window)
        while True:
            for _ in range(samples):
                step = torch.randint(-int(span), int(span) + 1, (2, *nnf.shape[-2:]), generator=gen)
                nnf, dist = consider(nnf + step, nnf, dist)
            if span <= 1:
                break
            span = max(span / 2, 1.0)
    return nnf, dist


def search(
    fa: torch.Tensor,
    fb: torch.Tensor,
    patch: int,
    *,
    guide: torch.Tensor | None = None,
    radius: int | None = None,
    iters: int = 4,
    budget: float = EXACT_BUDGET,
    dims: int | None = None,
    generator: torch.Generator | None = None,
    progress: Progress = silent,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best available NNF ``(2, ha, wa)`` and distances: exact search when it costs at most ``budget``
    multiply-adds (never worse than PatchMatch), otherwise PatchMatch started from ``guide``.

    ``guide`` (2, ha, wa) and ``radius`` restrict the search window; without a guide the search is
    global (PatchMatch then starts from the scaled identity). ``dims``: PatchMatch compares the
    top ``dims`` principal components of the features (see :func:`reduce_channels`); ``None`` = all.
    """
    if exact_cost(tuple(fa.shape), tuple(fb.shape), patch) <= budget:
        return exact_search(fa, fb, patch, guide=guide, radius=radius)
    if dims is not None:
        fa, fb = reduce_channels(fa, fb, dims)
    if guide is None:
        ha, wa = fa.shape[-2:]
        hb, wb = fb.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(ha), torch.arange(wa), indexing="ij")
        guide = torch.stack([xs * wb // wa, ys * hb // ha])
        radius = None
    return patchmatch(fa, fb, patch, guide, iters=iters, radius=radius, generator=generator, progress=progress)


# ----------------------------------------------------------------------------------------- upsampling


def upsample_nnf(
    nnf: torch.Tensor, coarse_target: tuple[int, int], size: tuple[int, int], target_size: tuple[int, int]
) -> torch.Tensor:
    """Nearest-neighbour upsampling of an NNF between pyramid levels.

    Args:
        nnf: ``(2, h, w)`` long coordinates into a target map of size ``coarse_target`` ``(hb, wb)``.
        size: new query size ``(H, W)``; target_size: new target size ``(Hb, Wb)``.

    Each fine pixel inherits the match of its coarse parent, scaled, plus its own offset inside the
    parent cell, so that a coherent coarse match stays coherent at the finer level.

    Returns:
        ``(2, H, W)`` long, clamped to the new target.
    """
    h, w = nnf.shape[-2:]
    H, W = size
    hb, wb = coarse_target
    Hb, Wb = target_size
    ys = torch.arange(H) * h // H
    xs = torch.arange(W) * w // W
    parent = nnf[:, ys[:, None], xs[None]]
    off_y = torch.arange(H)[:, None] - (ys[:, None] * H / h).floor().long()
    off_x = torch.arange(W)[None] - (xs[None] * W / w).floor().long()
    up = torch.stack([(parent[0] * Wb / wb).floor().long() + off_x, (parent[1] * Hb / hb).floor().long() + off_y])
    return _clamp(up, Hb, Wb)
