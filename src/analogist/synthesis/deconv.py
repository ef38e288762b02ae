"""Feature inversion: find the input of a sub-network whose output matches a target feature map.

Deep Image Analogy deconvolves warped features one layer down with it (Eq. 5), Neural Best-Buddies
reuses it for hybrids. Generic over any ``nn.Module`` mapping ``(1, C', H', W')`` to ``(1, C, h, w)``.
"""

from __future__ import annotations

import torch
from torch import nn


def deconvolve(
    subnet: nn.Module,
    target: torch.Tensor,
    init: torch.Tensor,
    iters: int,
    *,
    history: int = 4,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Minimise ``|| weight * (subnet(x) - target) ||^2`` over ``x`` with L-BFGS, starting at ``init``.

    Args:
        subnet: frozen module, e.g. ``backbone.subnet("relu3_1", "relu4_1")``.
        target: ``(1, C, h, w)`` feature map to reproduce.
        init: ``(1, C', H', W')`` starting input; a good warm start (the authors use the voted
            warp of the finer features) lets a few iterations suffice.
        iters: L-BFGS iterations (function evaluations are capped at 1.25x this).
        history: L-BFGS memory (the authors' code uses 4).
        weight: optional ``(1, 1 or C, h, w)`` per-pixel weight of the residual.

    Returns:
        ``(1, C', H', W')`` the optimised input (detached). ``iters=0`` returns ``init``.
    """
    x0 = init.detach().clone(memory_format=torch.contiguous_format)
    if iters <= 0:
        return x0
    target = target.detach()
    # the loss is summed (not averaged) in the authors' code; normalise by the size so that the
    # L-BFGS tolerances behave alike at every layer and resolution
    scale = 1.0 / target.numel()

    def loss_at(x: torch.Tensor) -> torch.Tensor:
        diff = subnet(x) - target
        if weight is not None:
            diff = diff * weight
        return diff.pow(2).sum() * scale

    with torch.enable_grad():
        x = x0.clone().requires_grad_(True)
        first = loss_at(x)
        (g,) = torch.autograd.grad(first, x)
    first = first.detach()
    # L-BFGS's first step moves its learning rate in L1 norm, whatever the problem's size: on a
    # feature map of millions of values that step changed the float32 loss by nothing, the line
    # search gave up and the inversion returned its start (the hybrid's finest masks then fell to
    # ties). So it runs on u, x = x0 + c u, with c making that first step the one that would halve
    # the loss were it linear; later steps are L-BFGS's own, which a scalar c does not change.
    g2, g1 = float(g.pow(2).sum()), float(g.abs().sum())
    if g2 == 0.0 or not torch.isfinite(first):
        return x0
    eta = 0.5 * float(first) / g2
    c = eta * g1 if eta * g1 * g1 >= 1.0 else eta**0.5  # below 1 in L1 norm, L-BFGS's first step is u's gradient itself
    u = torch.zeros_like(x0, requires_grad=True)
    opt = torch.optim.LBFGS(
        [u],
        lr=1.0,
        max_iter=iters,
        max_eval=int(iters * 1.25) + 1,
        history_size=history,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    start = [(first, g)]  # L-BFGS evaluates u = 0 first: x0, whose loss and gradient are known

    def closure() -> torch.Tensor:
        opt.zero_grad()
        if start:
            loss, grad = start.pop()
            u.grad = grad * c
            return loss
        loss = loss_at(x0 + c * u)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return (x0 + c * u).detach()
