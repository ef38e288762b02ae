"""NNF search, upsampling, voting and feature inversion on small seeded tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from analogist.matching import nnf as N
from analogist.matching.flow import identity_grid, nnf_to_flow
from analogist.synthesis.deconv import deconvolve
from analogist.synthesis.warp import vote

SHIFT = (5, 3)  # (dx, dy): a(p) = b(p + SHIFT)


def _smooth(c: int, h: int, w: int) -> torch.Tensor:
    """Spatially smooth random features, as network features are."""
    return F.avg_pool2d(torch.randn(1, c, h + 4, w + 4), 5, 1)


def _shifted_pair(device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    f = _smooth(16, 40, 50).to(device)
    dx, dy = SHIFT
    fa = f[..., dy : dy + 32, dx : dx + 40]
    fb = f[..., :32, :40]
    return N.normalize(fa), N.normalize(fb)


def _overlap_ok(nnf: torch.Tensor) -> float:
    fl = nnf_to_flow(nnf)
    inside = (fl[0][: 32 - SHIFT[1], : 40 - SHIFT[0]] == SHIFT[0]) & (
        fl[1][: 32 - SHIFT[1], : 40 - SHIFT[0]] == SHIFT[1]
    )
    return inside.float().mean().item()


def test_exact_search_recovers_shift_and_distance(device: torch.device) -> None:
    fa, fb = _shifted_pair(device)
    nnf, dist = N.exact_search(fa, fb, 3, chunk=100)
    assert nnf.device.type == dist.device.type == device.type
    nnf, dist = nnf.cpu(), dist.cpu()
    assert _overlap_ok(nnf) == 1.0
    assert torch.allclose(N.patch_distance(fa.cpu(), fb.cpu(), nnf, 3), dist, atol=1e-4)
    assert dist[:20, :30].max() < 1e-4  # identical patches inside the overlap


def test_patchmatch_recovers_shift_from_identity(device: torch.device) -> None:
    fa, fb = _shifted_pair(device)
    init = identity_grid(32, 40, device=device).long()
    nnf, dist = N.patchmatch(fa, fb, 3, init, iters=5)
    assert nnf.device.type == dist.device.type == device.type
    assert _overlap_ok(nnf.cpu()) > 0.98
    exact, dist_exact = N.exact_search(fa, fb, 3)
    assert (dist >= dist_exact - 1e-5).all()  # the exact search is never worse


def test_patchmatch_respects_radius() -> None:
    fa, fb = _shifted_pair()
    init = identity_grid(32, 40).long()
    nnf, _ = N.patchmatch(fa, fb, 3, init, iters=3, radius=2)
    assert (nnf - init).abs().max() <= 2
    ex, _ = N.exact_search(fa, fb, 3, guide=init, radius=2)
    assert (ex - init).abs().max() <= 2


def test_cost_volume_agrees_with_exact_search() -> None:
    fa, fb = _shifted_pair()
    cost = N.cost_volume(fa, fb, 3, chunk=100)
    nnf, dist = N.exact_search(fa, fb, 3)
    assert torch.equal(N.coherent_nnf(cost, (32, 40), (32, 40), 0.0), nnf)  # weight 0: exact NN
    assert torch.allclose(cost.min(1).values.view(32, 40), dist, atol=1e-5)


def test_coherent_nnf_fixes_near_ties_keeps_clear_matches() -> None:
    # a field that is best shifted by SHIFT everywhere, with one cell whose exact NN is a far
    # near-tie and one whose far match is clearly better (a true discontinuity)
    ha, wa = 8, 10
    hb, wb = 8, 10
    cost = torch.full((ha * wa, hb * wb), 3.0)
    ys, xs = torch.meshgrid(torch.arange(ha), torch.arange(wa), indexing="ij")
    tx, ty = (xs + 1).clamp_max(wb - 1), (ys + 1).clamp_max(hb - 1)
    cost[torch.arange(ha * wa), (ty * wb + tx).flatten()] = 1.5
    tie, clear = 3 * wa + 4, 6 * wa + 2
    cost[tie, 0] = 1.45  # far cell, better by 0.05 only
    cost[clear, 0] = 0.0  # far cell, better by more than the prior's cap (8 x 0.05 x 2)
    exact = N.coherent_nnf(cost, (ha, wa), (hb, wb), 0.0)
    assert exact[:, 3, 4].tolist() == [0, 0]
    nnf = N.coherent_nnf(cost, (ha, wa), (hb, wb), 0.05)
    assert nnf[:, 3, 4].tolist() == [5, 4]  # follows its neighbours' shift
    assert nnf[:, 6, 2].tolist() == [0, 0]  # a clearly better match survives the prior
    keep = torch.ones(ha, wa, dtype=torch.bool)
    keep[6, 2] = False
    assert torch.equal(nnf[0][keep], tx[keep]) and torch.equal(nnf[1][keep], ty[keep])


def test_consistency_cost_prefers_the_partners_inverse() -> None:
    # two equally good candidates per query: the one the forward NNF sends back wins
    hq, wq, ht, wt = 4, 5, 4, 5
    cost = torch.ones(hq * wq, ht * wt)
    grid = identity_grid(ht, wt).long()
    fwd = torch.stack([(wq - 1) - grid[0], grid[1]])  # target t -> query, mirrored
    total = N.consistency_cost(cost, fwd, (hq, wq), 0.1, 3.0)
    best = total.argmin(1)
    qx, qy = torch.arange(hq * wq) % wq, torch.arange(hq * wq) // wq
    assert torch.equal(best % wt, (wt - 1) - qx) and torch.equal(best // wt, qy)
    assert abs(float(total.max()) - 1.3) < 1e-6  # the penalty is truncated at 3 cells


def test_search_picks_exact_when_cheap() -> None:
    fa, fb = _shifted_pair()
    nnf, _ = N.search(fa, fb, 3)
    assert _overlap_ok(nnf) == 1.0


def test_reduce_channels_keeps_low_rank_distances() -> None:
    basis = torch.randn(4, 32)
    fa = (torch.randn(1, 10, 10, 4) @ basis).permute(0, 3, 1, 2)
    fb = (torch.randn(1, 8, 12, 4) @ basis).permute(0, 3, 1, 2)
    pa, pb = N.reduce_channels(fa, fb, 4)
    assert pa.shape == (1, 4, 10, 10) and pb.shape == (1, 4, 8, 12)
    d_full = torch.cdist(fa[0].flatten(1).t(), fb[0].flatten(1).t())
    d_red = torch.cdist(pa[0].flatten(1).t(), pb[0].flatten(1).t())
    assert torch.allclose(d_full, d_red, atol=1e-3, rtol=1e-3)


def test_upsample_nnf_keeps_coherent_shift() -> None:
    coarse = identity_grid(8, 10).long() + torch.tensor([2, 1]).view(2, 1, 1)
    coarse = torch.stack([coarse[0].clamp(0, 11), coarse[1].clamp(0, 8)])
    up = N.upsample_nnf(coarse, (9, 12), (16, 20), (18, 24))
    fl = nnf_to_flow(up)
    assert fl.shape == (2, 16, 20)
    assert (fl[0][:8, :10] == 4).all() and (fl[1][:8, :10] == 2).all()
    assert up[0].max() <= 23 and up[1].max() <= 17


def test_vote_identity_and_shift() -> None:
    src = torch.rand(1, 3, 12, 14)
    assert torch.allclose(vote(src, identity_grid(12, 14).long(), 3), src, atol=1e-6)
    nnf = identity_grid(10, 10).long() + 2  # pixel p reads p + (2, 2)
    out = vote(src, nnf, 5)
    assert torch.allclose(out, src[..., 2:12, 2:12], atol=1e-6)


def test_deconvolve_inverts_a_small_network() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    for p in net.parameters():
        p.requires_grad_(False)
    x_true = torch.rand(1, 3, 12, 12)
    target = net(x_true)
    init = torch.zeros(1, 3, 12, 12)
    before = (net(init) - target).pow(2).mean()
    x = deconvolve(net, target, init, 30)
    after = (net(x) - target).pow(2).mean()
    assert x.shape == init.shape and not x.requires_grad
    assert after < 0.05 * before
    assert torch.equal(deconvolve(net, target, init, 0), init)


def test_deconvolve_moves_a_large_feature_map_as_far_as_a_small_one() -> None:
    """L-BFGS's first step has a fixed L1 norm: on a map of about a million values, features of
    hundreds (VGG's relu1_1), it changed the float32 loss by nothing and the inversion returned its
    start. The same problem at 4 px and at 256 px must fall alike in 10 iterations."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1))
    for p in net.parameters():
        p.requires_grad_(False)
    shares = []
    for side in (8, 256):
        x_true = 300 * torch.rand(1, 16, side, side)
        target = net(x_true)
        init = x_true + 100 * torch.randn_like(x_true)
        before = float((net(init) - target).pow(2).mean())
        after = float((net(deconvolve(net, target, init, 10)) - target).pow(2).mean())
        shares.append(after / before)
    assert shares[1] < 0.5 and shares[1] < 2 * shares[0], shares
