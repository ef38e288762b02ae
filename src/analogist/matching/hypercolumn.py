"""Hypercolumns and their zero-centred cosine nearest neighbours (Neural Neighbor Style Transfer).

A hypercolumn stacks several VGG layers at one resolution: ``(1, sum C_l, h, w)``. Matching replaces
each content hypercolumn by the style hypercolumn of highest cosine similarity after both sets are
centred on their own means (the paper's Eq. 1), optionally mixed with a guidance term (section 5).

Unlike :func:`analogist.matching.nearest.nearest_neighbours` (plain cosine, keys normalised on every
call) the keys here are prepared once (:class:`Keys`) because the splitting phase queries the same style
set after every optimisation step, the products may run in bfloat16 or int8 (where the machine measures
them faster, :mod:`analogist.features.precision`), and the score
can carry a guidance term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..synthesis.pyramid import resize
from .int8 import int8_product, quantise_rows


def resize_bilinear(f: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A feature map ``(B, C, H, W)`` on a hypercolumn grid ``size``: :func:`~analogist.synthesis.pyramid.resize`,
    as an average pool of a shifted view where ``H``, ``W`` are whole multiples of ``size`` (see
    :func:`_grid`): the same numbers up to float rounding, several times faster on a CPU."""
    grid = _grid(f.shape, tuple(size))
    if grid is None:
        return resize(f, size)
    if grid[:2] == (1, 1):
        return f
    return F.avg_pool2d(f[..., grid[2] :, grid[3] :], kernel_size=grid[4:], stride=grid[:2])


def _grid(shape: torch.Size, size: tuple[int, int]) -> tuple[int, int, int, int, int, int] | None:
    """Whole-factor sampling of a ``(1, C, H, W)`` map at ``size``: ``(ky, kx, oy, ox, ny, nx)``.

    Bilinear resizing (``align_corners=False``) by a whole factor ``k`` reads source position
    ``k * i + (k - 1) / 2``: one pixel at offset ``(k - 1) // 2`` for odd ``k``, the mean of two from
    there for even ``k``. ``None`` when the factors are not whole.
    """
    (H, W), (h, w) = shape[-2:], size
    if H % h or W % w or H < h or W < w:
        return None
    ky, kx = H // h, W // w
    return ky, kx, (ky - 1) // 2, (kx - 1) // 2, 2 - ky % 2, 2 - kx % 2


def _cells(f: torch.Tensor, size: tuple[int, int], ky: int, kx: int) -> torch.Tensor:
    """Channels-last ``(1, C, H, W)`` viewed as ``(h, ky, w, kx, C)`` (copied if not channels-last)."""
    return f.permute(0, 2, 3, 1).reshape(size[0], ky, size[1], kx, f.shape[1])


def _sample(cells: torch.Tensor, oy: int, ox: int, ny: int, nx: int) -> torch.Tensor:
    """Mean of the ``ny * nx`` samples of every cell: ``(h, w, C)``."""
    out = cells[:, oy, :, ox].clone()
    for dy in range(ny):
        for dx in range(nx):
            if dy or dx:
                out += cells[:, oy + dy, :, ox + dx]
    return out.mul_(1.0 / (ny * nx))


def _spread_(cells: torch.Tensor, rows_grad: torch.Tensor, oy: int, ox: int, ny: int, nx: int) -> None:
    """Adjoint of :func:`_sample`, added in place into ``cells``."""
    share = rows_grad.reshape(cells.shape[0], cells.shape[2], cells.shape[4]) * (1.0 / (ny * nx))
    for dy in range(ny):
        for dx in range(nx):
            cells[:, oy + dy, :, ox + dx] += share


class _Tap(torch.autograd.Function):
    """``(f, rows)``: ``f`` passed through unchanged and its grid rows, whose gradient is added in
    place into the gradient that comes back through ``f``.

    Autograd's own route for a map used twice (by the next layer and by the loss) allocates a
    full-size gradient for the loss branch and adds the two; at 512 px those fills and adds, and the
    strided reductions of a generic resize, cost about as much as the convolutions' backward pass.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, size: tuple[int, int], grid: tuple[int, int, int, int, int, int]):  # type: ignore[override]
        ky, kx, oy, ox, ny, nx = grid
        ctx.size, ctx.grid = size, grid
        rows = _sample(_cells(f, size, ky, kx), oy, ox, ny, nx).reshape(-1, f.shape[1])
        return f[:], rows  # a view with f's strides (view_as would renumber the batch stride and lose channels-last)

    @staticmethod
    def backward(ctx, grad_f: torch.Tensor | None, grad_rows: torch.Tensor | None):  # type: ignore[override]
        ky, kx, oy, ox, ny, nx = ctx.grid
        if grad_f is None:
            raise RuntimeError("tap_rows: the passed-through map must feed the rest of the graph")
        # The incoming gradient is the consumer's fresh output (a convolution or pooling), so
        # adding into it is safe; anything else is copied first.
        grad_f = grad_f.contiguous(memory_format=torch.channels_last)
        if grad_rows is not None:
            _spread_(_cells(grad_f, ctx.size, ky, kx), grad_rows, oy, ox, ny, nx)
        return grad_f, None, None


def tap_rows(f: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``f`` ``(1, C, H, W)`` and its bilinear resize to ``size`` as rows ``(h*w, C)``.

    For a map the network goes on computing from: use the returned ``f`` downstream. With
    whole factors and a channels-last ``f`` the backward pass adds the rows' gradient into the
    downstream gradient in place; otherwise this is :func:`grid_rows`.
    """
    grid = _grid(f.shape, tuple(size))
    if grid is None or not f.is_contiguous(memory_format=torch.channels_last):
        return f, grid_rows(f, size)
    return _Tap.apply(f, tuple(size), grid)


def grid_rows(f: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """:func:`resize_bilinear` of ``(1, C, H, W)`` to ``size``, returned as rows ``(h*w, C)``.

    Differentiable; for a map nothing else reads (see :func:`tap_rows` otherwise).
    """
    return resize_bilinear(f, size).permute(0, 2, 3, 1).reshape(-1, f.shape[1])


def hypercolumns(
    feats: Sequence[torch.Tensor], size: tuple[int, int], divisors: Sequence[float] | None = None
) -> torch.Tensor:
    """Stack feature maps ``(B, C_l, h_l, w_l)`` into ``(B, sum C_l, *size)``.

    Each map is divided by its divisor (the authors divide by the channel count so wide layers do
    not drown narrow ones; default ``C_l``) and resized bilinearly to ``size``.
    """
    divisors = divisors if divisors is not None else [f.shape[1] for f in feats]
    return torch.cat([resize_bilinear(f, size).float() / d for f, d in zip(feats, divisors)], dim=1)


def flatten(feats: torch.Tensor) -> torch.Tensor:
    """``(1, C, h, w)`` to ``(C, h*w)`` (row-major positions)."""
    return feats.reshape(feats.shape[1], -1)


def centre_normalise(x: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Columns of ``(C, N)`` minus ``mean`` (default their own mean), scaled to unit length."""
    mean = x.mean(dim=1, keepdim=True) if mean is None else mean
    y = x - mean
    # Squared norms summed over blocks of rows: a norm along dim 0 of a (C, N) matrix reduces
    # across strided memory and was 3x slower; blocks bound the temporary to 256 rows.
    sq = y.new_zeros(y.shape[1])
    for s in range(0, y.shape[0], 256):
        sq += y[s : s + 256].square().sum(dim=0)
    return y.div_(sq.sqrt_().clamp_min_(1e-12))


@dataclass(frozen=True)
class Keys:
    """A reference set prepared for repeated queries.

    Attributes:
        unit: ``(C, N)`` centred unit vectors in the matching dtype. Scores are computed as
            ``(n, C) @ (C, N)`` so the argmax runs along contiguous rows (several times faster on a
            CPU than reducing over the first dimension).
        guide: ``(G, N)`` float32 guide values of the keys, or ``None``.
        guide_sq: ``(N,)`` squared norms of ``guide`` (for squared distances by one product).
        scale: ``(N,)`` float32 scales of int8 ``unit`` columns (:mod:`.int8`), else ``None``.
    """

    unit: torch.Tensor
    guide: torch.Tensor | None
    guide_sq: torch.Tensor | None
    scale: torch.Tensor | None = None

    @classmethod
    def build(
        cls, feats: torch.Tensor, guide: torch.Tensor | None = None, *, dtype: torch.dtype = torch.float32
    ) -> Keys:
        """From key features ``(C, N)`` and optional key guides ``(G, N)``; ``dtype`` float32,
        bfloat16 or int8 (:mod:`.int8`)."""
        unit, scale = centre_normalise(feats.float()), None
        if dtype == torch.int8:  # stored as (N, C) rows, the layout oneDNN's int8 product reads fastest
            rows, scale = quantise_rows(unit.T)
            unit = rows.T
        else:
            unit = unit.to(dtype).contiguous()
        if guide is None:
            return cls(unit, None, None, scale)
        g = guide.float().contiguous()
        return cls(unit, g, (g * g).sum(dim=0), scale)


def match(
    queries: torch.Tensor,
    keys: Keys,
    *,
    query_guide: torch.Tensor | None = None,
    w_cos: float = 0.5,
    w_guide: float = 0.5,
    chunk: int = 2048,
) -> torch.Tensor:
    """Index of the best key for every query: ``argmax_j w_cos cos(q_i, k_j) - w_guide |g_i - g_j|^2``.

    Queries are centred on their own mean, keys on theirs (Eq. 1 of the paper). Without guides the
    score is the plain centred cosine (the weights then do not change the argmax). With guides (RGB
    label images in [0, 1], so ``|g_i - g_j|^2`` is 0 for equal labels and 2 or more between two
    pure, different colours) the guide term outweighs the whole range of the cosine term at equal
    weights, which confines matches to the same label wherever the style has that label.

    Args:
        queries: ``(C, Nq)`` features. keys: prepared reference set.
        query_guide: ``(G, Nq)``; required exactly when ``keys`` carry guides.
        chunk: queries per matrix product; memory is about ``chunk * N`` scores.

    Returns:
        ``(Nq,)`` int64 indices into the keys.
    """
    if (query_guide is None) != (keys.guide is None):
        raise ValueError("query and key guides must be given together")
    int8 = keys.scale is not None
    q = centre_normalise(queries.float()).T  # (Nq, C)
    q = q if int8 else q.to(keys.unit.dtype)
    n = q.shape[0]
    out = torch.empty(n, dtype=torch.int64, device=q.device)
    for s in range(0, n, chunk):
        if int8:  # cosines up to the queries' scales, which matter only beside a guide term
            rows, q_scale = quantise_rows(q[s : s + chunk].contiguous())
            scores = int8_product(rows, keys.unit).mul_(keys.scale)
            if query_guide is not None:
                scores.mul_(q_scale[:, None])
        else:
            scores = q[s : s + chunk].contiguous() @ keys.unit  # (n, N)
        if query_guide is not None:
            g = query_guide[:, s : s + chunk].float().T.contiguous()  # (n, G)
            dist = (g * g).sum(dim=1, keepdim=True) + keys.guide_sq[None] - 2.0 * (g @ keys.guide)
            scores = w_cos * scores.float() - w_guide * dist
        out[s : s + chunk] = scores.max(dim=1).indices
    return out


__all__ = ["resize_bilinear", "grid_rows", "tap_rows", "hypercolumns", "flatten", "centre_normalise", "Keys", "match"]
