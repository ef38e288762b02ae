"""Vectorised PatchMatch and the patch distance of candidate fields.

Part of :mod:`analogist.matching.nnf` (import the names from there). Random candidates are drawn on
the generator's device (the CPU by default), so one seed gives the same search on every device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..progress import Progress, silent


def _offsets(patch: int) -> list[tuple[int, int]]:
    r = patch // 2
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]


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
        total = self.va.new_zeros(ha, wa)
        count = self.va.new_zeros(ha, wa)
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


def clamp_nnf(nnf: torch.Tensor, hb: int, wb: int) -> torch.Tensor:
    return torch.stack([nnf[0].clamp(0, wb - 1), nnf[1].clamp(0, hb - 1)])


def _window(nnf: torch.Tensor, guide: torch.Tensor | None, radius: int | None) -> torch.Tensor:
    if guide is None or radius is None:
        return nnf
    return torch.minimum(torch.maximum(nnf, guide - radius), guide + radius)


def _shift(t: torch.Tensor, dy: int, dx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``t[..., y + dy, x + dx]`` for every ``(y, x)`` (replicated at borders) and a mask of real reads."""
    h, w = t.shape[-2:]
    ys = torch.arange(h, device=t.device) + dy
    xs = torch.arange(w, device=t.device) + dx
    inside = ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < w))[None]
    return t[..., ys.clamp(0, h - 1)[:, None], xs.clamp(0, w - 1)[None]], inside


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
    nnf = clamp_nnf(init.long(), hb, wb)
    dist = cost(nnf)
    gen = generator or torch.Generator().manual_seed(0)
    window = search_radius or radius or max(hb, wb)

    def consider(cand: torch.Tensor, nnf: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cand = clamp_nnf(_window(cand, guide, radius), hb, wb)
        d = cost(cand)
        better = d < dist
        return torch.where(better, cand, nnf), torch.where(better, d, dist)

    for it in progress(range(iters), total=iters, desc="patchmatch"):
        jump = 2 ** max(iters - 1 - it, 0)
        for dy, dx in ((0, -jump), (-jump, 0), (0, jump), (jump, 0)):
            neigh, inside = _shift(nnf, dy, dx)
            cand = neigh - torch.tensor([dx, dy], device=nnf.device).view(2, 1, 1)
            cand = torch.where(inside, cand, nnf)
            nnf, dist = consider(cand, nnf, dist)
        span = float(window)
        while True:
            for _ in range(samples):
                # drawn on the generator's device (the CPU by default): the same seed, the same field anywhere
                step = torch.randint(-int(span), int(span) + 1, (2, *nnf.shape[-2:]), generator=gen, device=gen.device)
                nnf, dist = consider(nnf + step.to(nnf.device), nnf, dist)
            if span <= 1:
                break
            span = max(span / 2, 1.0)
    return nnf, dist
