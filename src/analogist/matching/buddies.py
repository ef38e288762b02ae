"""Neural best buddies: mutual nearest neighbours between deep feature patches (Aberman et al. 2018).

Pure functions on tensors; :mod:`analogist.methods.buddies` composes them into the coarse-to-fine
search of the paper's Algorithm 1. Conventions:

* a *region pair* is two axis-aligned windows, one in each feature map, given by top-left corners
  ``(y, x)`` at one level; a batch of region pairs shares the window sizes, so one level is a single
  batched computation (the corners may lie partly outside the map: such positions are invalid);
* points at a level are ``(ya, xa, yb, xb)`` integer map coordinates.

The paper's equations are cited by number."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def normalized_activation(features: torch.Tensor) -> torch.Tensor:
    """Eq. 7: per-position feature norm, min-max normalised over the map.

    Args:
        features: ``(1, C, h, w)`` or ``(C, h, w)``.

    Returns:
        ``(h, w)`` in [0, 1].
    """
    f = features.reshape(-1, *features.shape[-2:])
    norm = f.float().norm(dim=0)
    lo, hi = norm.min(), norm.max()
    return (norm - lo) / (hi - lo).clamp_min(1e-12)


def activation_filter(points: torch.Tensor, act_a: torch.Tensor, act_b: torch.Tensor, gamma: float) -> torch.Tensor:
    """Eq. 8: keep pairs whose normalised activation exceeds ``gamma`` in both maps.

    Args:
        points: ``(M, 4)`` integer ``(ya, xa, yb, xb)``.
        act_a, act_b: ``(ha, wa)``, ``(hb, wb)`` from :func:`normalized_activation`.

    Returns:
        boolean mask ``(M,)``.
    """
    ha = act_a[points[:, 0], points[:, 1]]
    hb = act_b[points[:, 2], points[:, 3]]
    return (ha > gamma) & (hb > gamma)


def pair_activation(points: torch.Tensor, act_a: torch.Tensor, act_b: torch.Tensor) -> torch.Tensor:
    """``H_A(p) + H_B(q)`` for each pair ``(M, 4)``: one level's term of the rank of Eq. 11."""
    return act_a[points[:, 0], points[:, 1]] + act_b[points[:, 2], points[:, 3]]


@dataclass(frozen=True)
class PaddedMap:
    """A feature map padded once per level, stored channels-last ``(h + 2 pad, w + 2 pad, C)`` so that
    windows cut from it are contiguous."""

    padded: torch.Tensor
    h: int
    w: int
    pad: int


def pad_map(features: torch.Tensor, margin: int) -> PaddedMap:
    """Reflection-pad ``(1, C, h, w)`` or ``(C, h, w)`` by ``margin + 1`` (replicate on tiny maps).

    The authors' code reflection-pads the normalised features, so border positions have patches.
    """
    f = features.reshape(-1, *features.shape[-2:]).float()
    h, w = f.shape[-2:]
    pad = margin + 1
    mode = "reflect" if min(h, w) > pad else "replicate"
    fp = F.pad(f[None], (pad, pad, pad, pad), mode=mode)[0]
    return PaddedMap(fp.permute(1, 2, 0).contiguous(), h, w, pad)


def gather_windows(
    features: torch.Tensor | PaddedMap, corners: torch.Tensor, size: tuple[int, int], margin: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut the same-sized window around many regions out of one feature map.

    A region position is valid only if its whole ``(2 margin + 1)``-wide neighbourhood lies inside
    the map. Near the border the backbone's zero padding dominates deep features and border cells
    of two images match each other (spurious buddies along the edges), so such positions are never
    matched; the reflection padding only keeps every window indexable.

    Args:
        features: ``(1, C, h, w)``, ``(C, h, w)`` or a :class:`PaddedMap` with padding >= ``margin``.
        corners: ``(N, 2)`` integer top-left ``(y, x)`` of each region.
        size: region ``(rh, rw)``.
        margin: extra positions on every side (half the patch size).

    Returns:
        windows ``(N, rh + 2 margin, rw + 2 margin, C)`` (channels last) and validity ``(N, rh, rw)``.
    """
    pm = features if isinstance(features, PaddedMap) else pad_map(features, margin)
    if pm.pad < margin:
        raise ValueError(f"map padded by {pm.pad} cannot give windows with margin {margin}")
    h, w, pad = pm.h, pm.w, pm.pad
    rh, rw = size
    oy = torch.arange(-margin, rh + margin, device=corners.device)
    ox = torch.arange(-margin, rw + margin, device=corners.device)
    ys = corners[:, 0:1] + oy[None]  # (N, rh + 2m)
    xs = corners[:, 1:2] + ox[None]
    # entries of invalid positions are clamped only to stay indexable; they are masked later
    ys_c = ys.clamp(-pad, h - 1 + pad) + pad
    xs_c = xs.clamp(-pad, w - 1 + pad) + pad
    win = pm.padded[ys_c[:, :, None], xs_c[:, None, :]]  # (N, Eh, Ew, C)
    ry = ys[:, margin : margin + rh]
    rx = xs[:, margin : margin + rw]
    valid = ((ry >= margin) & (ry < h - margin))[:, :, None] & ((rx >= margin) & (rx < w - margin))[:, None, :]
    return win, valid


def common_appearance(
    win_a: torch.Tensor,
    valid_a: torch.Tensor,
    win_b: torch.Tensor,
    valid_b: torch.Tensor,
    margin: int,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4-6: bring both regions of each pair to the per-channel mean and deviation halfway between them.

    Statistics are taken over the valid region positions only (not the patch margins); the affine
    map of each region is then applied to its whole window.

    Args:
        win_a: ``(N, Ha + 2m, Wa + 2m, C)``; valid_a: ``(N, Ha, Wa)``; likewise for B.

    Returns:
        the transformed windows, same shapes.
    """

    def stats(win: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inner = win[:, margin : win.shape[1] - margin, margin : win.shape[2] - margin]
        m = valid.to(win.dtype).flatten(1)[:, None]  # (N, 1, P)
        flat = inner.reshape(inner.shape[0], -1, inner.shape[-1])  # (N, P, C)
        n = m.sum(dim=2, keepdim=True).clamp_min(1.0)
        mu = torch.bmm(m, flat) / n  # (N, 1, C)
        var = (torch.bmm(m, flat * flat) / n - mu * mu).clamp_min(0)
        return mu[:, :, None], var.sqrt()[:, :, None]  # (N, 1, 1, C)

    mu_a, sd_a = stats(win_a, valid_a)
    mu_b, sd_b = stats(win_b, valid_b)
    mu_m, sd_m = (mu_a + mu_b) / 2, (sd_a + sd_b) / 2
    gain_a, gain_b = sd_m / (sd_a + eps), sd_m / (sd_b + eps)
    ca = torch.addcmul(mu_m - mu_a * gain_a, win_a, gain_a)
    cb = torch.addcmul(mu_m - mu_b * gain_b, win_b, gain_b)
    return ca, cb


def patch_correlation(ca: torch.Tensor, cb: torch.Tensor, patch: int) -> torch.Tensor:
    """Eq. 3: normalised correlation of ``patch x patch`` neighbourhoods between two regions, for a batch.

    The correlation of the neighbourhoods of ``p`` and ``q`` is the sum over offsets ``i`` of
    ``<C_A(p + i), C_B(q + i)>`` divided by both neighbourhood norms. It is computed from the
    position-to-position dot products of the two windows (one batched matrix product), summed along
    the ``patch**2`` shared offsets: no per-point convolutions.

    Args:
        ca: ``(N, Ha + patch - 1, Wa + patch - 1, C)``; cb: ``(N, Hb + patch - 1, Wb + patch - 1, C)``.

    Returns:
        ``(N, Ha * Wa, Hb * Wb)`` correlations in [-1, 1].
    """
    n, eha, ewa, c = ca.shape
    ehb, ewb = cb.shape[1:3]
    ha, wa, hb, wb = eha - patch + 1, ewa - patch + 1, ehb - patch + 1, ewb - patch + 1
    dots = torch.bmm(ca.reshape(n, -1, c), cb.reshape(n, -1, c).transpose(1, 2))
    # (n, y, y', x, x'): the shared offsets are summed separably, first along x, then along y
    dots = dots.view(n, eha, ewa, ehb, ewb).permute(0, 1, 3, 2, 4)
    row = dots[:, :, :, :wa, :wb].clone()
    for dx in range(1, patch):
        row += dots[:, :, :, dx : dx + wa, dx : dx + wb]
    acc = row[:, :ha, :hb].clone()
    for dy in range(1, patch):
        acc += row[:, dy : dy + ha, dy : dy + hb]
    acc = acc.permute(0, 1, 3, 2, 4)
    na = _patch_norm(ca, patch).reshape(n, ha * wa, 1)
    nb = _patch_norm(cb, patch).reshape(n, 1, hb * wb)
    return acc.reshape(n, ha * wa, hb * wb) / (na * nb).clamp_min(1e-12)


def _patch_norm(win: torch.Tensor, patch: int) -> torch.Tensor:
    sq = (win * win).sum(dim=3)[:, None]
    return (F.avg_pool2d(sq, patch, stride=1) * patch * patch).clamp_min(0).sqrt()[:, 0]


def mutual_nearest(
    corr: torch.Tensor, valid_a: torch.Tensor, valid_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 1-2: best buddies = pairs that are each other's nearest neighbour within their region pair.

    Args:
        corr: ``(N, Pa, Pb)`` similarities (higher is nearer).
        valid_a: ``(N, Pa)``; valid_b: ``(N, Pb)`` boolean.

    Returns:
        ``(pair, ia, ib)``: region-pair index and flat positions inside the regions, each ``(M,)``.
    """
    s = corr.masked_fill(~(valid_a[:, :, None] & valid_b[:, None, :]), float("-inf"))
    nn_ab = s.argmax(dim=2)  # (N, Pa)
    nn_ba = s.argmax(dim=1)  # (N, Pb)
    back = torch.gather(nn_ba, 1, nn_ab)
    ia = torch.arange(s.shape[1], device=s.device)[None].expand_as(nn_ab)
    best = torch.gather(s, 2, nn_ab[:, :, None])[..., 0]
    mutual = (back == ia) & valid_a & torch.isfinite(best)
    pair, pos_a = mutual.nonzero(as_tuple=True)
    return pair, pos_a, nn_ab[pair, pos_a]


@dataclass(frozen=True)
class RegionPairs:
    """A batch of equally sized region pairs at one level (corners ``(N, 2)`` integer ``(y, x)``)."""

    corners_a: torch.Tensor
    corners_b: torch.Tensor
    size_a: tuple[int, int]
    size_b: tuple[int, int]

    def __len__(self) -> int:
        return int(self.corners_a.shape[0])


def region_correlation(
    feat_a: torch.Tensor | PaddedMap,
    feat_b: torch.Tensor | PaddedMap,
    regions: RegionPairs,
    patch: int,
    *,
    common: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Patch correlations of every position pair inside each region pair (Eq. 3-6).

    Args:
        feat_a: ``(1, C, ha, wa)``; feat_b: ``(1, C, hb, wb)`` (or :func:`pad_map` of them).
        patch: odd neighbourhood size.
        common: apply the common-appearance normalisation (Eq. 4-6); off only for ablations.

    Returns:
        ``corr (N, Pa, Pb)``, ``valid_a (N, Pa)``, ``valid_b (N, Pb)`` with ``Pa = prod(size_a)``.
    """
    m = patch // 2
    wa, va = gather_windows(feat_a, regions.corners_a, regions.size_a, m)
    wb, vb = gather_windows(feat_b, regions.corners_b, regions.size_b, m)
    if common:
        wa, wb = common_appearance(wa, va, wb, vb, m)
    corr = patch_correlation(wa, wb, patch)
    return corr, va.flatten(1), vb.flatten(1)


def find_buddies(
    feat_a: torch.Tensor,
    feat_b: torch.Tensor,
    regions: RegionPairs,
    patch: int,
    *,
    common: bool = True,
    chunk_elems: int = 1 << 25,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best buddies in every region pair of one level, batched in memory-bounded chunks.

    Returns:
        ``points (M, 4)`` integer ``(ya, xa, yb, xb)`` map coordinates and ``region (M,)``, the index
        of the region pair each was found in.
    """
    n = len(regions)
    (rha, rwa), (rhb, rwb) = regions.size_a, regions.size_b
    c = feat_a.shape[-3]
    pa, pb = pad_map(feat_a, patch // 2), pad_map(feat_b, patch // 2)
    ea = (rha + patch - 1) * (rwa + patch - 1)
    eb = (rhb + patch - 1) * (rwb + patch - 1)
    per_pair = ea * eb + c * (ea + eb) * 3
    step = max(1, chunk_elems // per_pair)
    pts, regs = [], []
    for s in range(0, n, step):
        sub = RegionPairs(
            regions.corners_a[s : s + step], regions.corners_b[s : s + step], regions.size_a, regions.size_b
        )
        corr, va, vb = region_correlation(pa, pb, sub, patch, common=common)
        pair, ia, ib = mutual_nearest(corr, va, vb)
        ya = sub.corners_a[pair, 0] + ia // rwa
        xa = sub.corners_a[pair, 1] + ia % rwa
        yb = sub.corners_b[pair, 0] + ib // rwb
        xb = sub.corners_b[pair, 1] + ib % rwb
        pts.append(torch.stack([ya, xa, yb, xb], dim=1))
        regs.append(pair + s)
    if not pts:
        dev = feat_a.device
        return torch.zeros(0, 4, dtype=torch.long, device=dev), torch.zeros(0, dtype=torch.long, device=dev)
    return torch.cat(pts), torch.cat(regs)


def refine_regions(points: torch.Tensor, radius: int) -> RegionPairs:
    """Eq. 9-10: the search regions at the next finer level from the receptive fields of each pair.

    ``G(p) = [2p - r/2, 2p + r/2]`` in both coordinates, a ``(r + 1) x (r + 1)`` window (clipped to
    the map by :func:`gather_windows`).

    Args:
        points: ``(M, 4)`` integer ``(ya, xa, yb, xb)`` at the coarser level.
        radius: ``r`` of the coarser level.
    """
    half = radius // 2
    side = 2 * half + 1
    return RegionPairs(points[:, 0:2] * 2 - half, points[:, 2:4] * 2 - half, (side, side), (side, side))
