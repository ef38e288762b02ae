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
    x = init.detach().clone(memory_format=torch.contiguous_format)
    if iters <= 0:
        return x
    x.requires_grad_(True)
    target = target.detach()
    # the loss is summed (not averaged) in the authors' code; normalise by the size so that the
    # L-BFGS tolerances behave alike at every layer and resolution
    scale = 1.0 / target.numel()
    opt = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=iters,
        max_eval=int(iters * 1.25) + 1,
        history_size=history,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        diff = subnet(x) - target
        if weight is not None:
            diff = diff * weight
        loss = diff.pow(2).sum() * scale
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return x.detach()
