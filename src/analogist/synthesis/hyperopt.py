"""Image synthesis by matching hypercolumn targets: the optimisation core of Neural Neighbor Style
Transfer (Kolkin et al. 2022, Eq. 8), shared with COAT's training-free decoding.

An image parameterised as a Laplacian pyramid (:mod:`analogist.synthesis.pyramid`) is optimised with
Adam so that its hypercolumns point the same way as a target hypercolumn map (mean cosine distance).
The feature extractor is anything with ``rows(image) -> [(h*w, C_l)]`` (per-layer rows, not divided by
the channel counts), ``channels`` ``[C_l]`` and ``dtype``: :class:`analogist.features.hypercolumn.Extractor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F

from ..matching.hypercolumn import flatten
from ..progress import Progress
from . import pyramid


class RowExtractor(Protocol):
    channels: list[int]

    @property
    def dtype(self) -> torch.dtype: ...

    def rows(self, image: torch.Tensor) -> list[torch.Tensor]: ...


def unit_rows(target: torch.Tensor, channels: Sequence[int], dtype: torch.dtype) -> list[torch.Tensor]:
    """Target hypercolumns ``(1, C, h, w)`` as unit vectors split by layer, each layer divided by its
    channel count (so a plain dot product with the undivided rows gives Eq. 8's numerator):
    ``[(h*w, C_l)]`` in ``dtype``."""
    t = F.normalize(flatten(target), dim=0).T
    return [(u / c).to(dtype).contiguous() for u, c in zip(torch.split(t, list(channels), dim=1), channels)]


class HyperCosineDistance(torch.autograd.Function):
    """Eq. 8, mean ``1 - cos`` between hypercolumns given as per-layer rows, with a closed-form
    backward pass.

    For one position with layer rows ``x_l`` (divided by ``c_l`` in the hypercolumn), scaled unit
    target rows ``u_l`` (from :func:`unit_rows`), ``D = sum_l x_l . u_l`` and
    ``s^2 = sum_l |x_l|^2 / c_l^2``, the loss is ``1 - D / s`` and its gradient
    ``-u_l / s + D x_l / (s^3 c_l^2)``. Reductions accumulate in float32 and the gradient is one fused
    pass in the rows' dtype: autograd through the same expression in float32 cost more than the
    network's own backward pass at 512 px.
    """

    @staticmethod
    def forward(ctx, units: list[torch.Tensor], channels: list[int], *rows: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        # Sums in the rows' dtype (accumulated in float32 inside for bfloat16); a float32 dtype
        # argument would first copy every row to float32.
        acc = torch.promote_types(rows[0].dtype, torch.float32)
        dot = sum((x * u).sum(dim=1).to(acc) for x, u in zip(rows, units))
        sq = sum(torch.linalg.vector_norm(x, dim=1).to(acc).square() / (c * c) for x, c in zip(rows, channels))
        s = sq.sqrt().clamp_min(1e-12)
        ctx.save_for_backward(dot, s, *rows)
        ctx.units, ctx.channels = units, channels
        return (1.0 - dot / s).mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        dot, s, *rows = ctx.saved_tensors
        scale = grad / dot.numel()
        a = (-scale / s)[:, None]
        b = (scale * dot / s.pow(3))[:, None]
        grads = [
            torch.addcmul((b / (c * c)).to(x.dtype) * x, a.to(x.dtype), u)
            for x, u, c in zip(rows, ctx.units, ctx.channels)
        ]
        return (None, None, *grads)


def optimise_pyramid(
    bands: list[torch.Tensor],
    target: torch.Tensor,
    extractor: RowExtractor,
    *,
    lr: float,
    steps: int,
    progress: Progress,
    desc: str,
    groups: Sequence[int] | None = None,
    fixed_from: int | None = None,
) -> list[torch.Tensor]:
    """Adam on pyramid ``bands`` (finest first) so the collapsed image's hypercolumns point at
    ``target`` ``(1, sum C_l, h, w)``; returns the optimised bands (detached).

    ``groups``: consecutive layer counts (for instance ``(2, 2, 3, 3)``) whose cosine distances are
    averaged with equal weights, so a group of small activations weighs as much as one of large ones;
    ``None``: one group, Eq. 8. ``fixed_from``: bands from this index on are kept as given (the coarse
    ones that carry an image's shapes and shading); ``None``: every band is optimised.
    """
    channels = list(extractor.channels)
    counts = list(groups) if groups else [len(channels)]
    if sum(counts) != len(channels):
        raise ValueError(f"groups {counts} must add up to the {len(channels)} layers")
    parts, layer, chan = [], 0, 0
    for count in counts:
        ch = channels[layer : layer + count]
        unit = unit_rows(target[:, chan : chan + sum(ch)], ch, extractor.dtype)
        parts.append((layer, layer + count, ch, unit))
        layer, chan = layer + count, chan + sum(ch)
    free = len(bands) if fixed_from is None else max(0, min(fixed_from, len(bands)))
    variables = [b.detach().clone().requires_grad_(i < free) for i, b in enumerate(bands)]
    if free == 0:
        return variables
    opt = torch.optim.Adam(variables[:free], lr=lr)
    for _ in progress(range(steps), total=steps, desc=desc):
        opt.zero_grad(set_to_none=True)
        rows = extractor.rows(pyramid.collapse(variables))
        loss = sum(HyperCosineDistance.apply(u, ch, *rows[a:b]) for a, b, ch, u in parts) / len(parts)
        loss.backward()
        opt.step()
    return [v.detach() for v in variables]


__all__ = ["RowExtractor", "unit_rows", "HyperCosineDistance", "optimise_pyramid"]
