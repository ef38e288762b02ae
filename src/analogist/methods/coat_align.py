"""COAT's latent alignment (Jeon et al., BMVC 2022, section 3.1) on VGG16 hypercolumns: the confident
sets of every hierarchy scale (Eq. 1-2, :mod:`analogist.matching.mutual`) and the latent swap of the
texture scales (Eq. 3). Used by :mod:`analogist.methods.coat`.

Not from the paper: the features a scale is matched on (see :class:`analogist.methods.coat.COATParams`'s
``context``), the matching of large grids on pooled cells (``max_cells``) and the part fill of the
positions outside the confident set (:mod:`analogist.methods.coat_fill`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..matching.hypercolumn import flatten
from ..matching.mutual import Confident, capped_grid, confident_set, latent_swap, refine, refine_index
from .coat_fill import PartFill, fill_scale, fill_swap, part_centres, restricted_match, support_gate

if TYPE_CHECKING:
    from .coat import COATParams

#: The scales of the hierarchy, coarse last: (name, index range into :data:`analogist.methods.stylize.LAYERS`).
SCALES = (("block1", 0, 2), ("block2", 2, 4), ("block3", 4, 7), ("block4", 7, 10))
#: Most structure scales (``n = 4``: every scale from the content, the output is the content).
MAX_LEVEL = len(SCALES)
#: Channels of :data:`LAYERS` in VGG16 (2688 in all).
CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512)


def _slices() -> list[slice]:
    """Channel ranges of every scale of :data:`SCALES` in the hypercolumn."""
    bounds = [0]
    for c in CHANNELS:
        bounds.append(bounds[-1] + c)
    return [slice(bounds[a], bounds[b]) for _, a, b in SCALES]


def _leading_axes(cov: torch.Tensor, dims: int, iters: int = 8) -> torch.Tensor:
    """Orthonormal ``(C, dims)`` spanning about the leading eigenvectors of ``cov`` ``(C, C)``, by
    subspace iteration from a fixed seeded start: a full ``eigh`` took seconds for 1536 channels on
    a busy CPU (LAPACK's threads), a few products and thin QRs take a tenth of that."""
    g = torch.Generator(device=cov.device).manual_seed(0)
    q = torch.randn(cov.shape[0], dims, generator=g, device=cov.device, dtype=cov.dtype)
    for _ in range(iters):
        q = torch.linalg.qr(cov @ q).Q
    return q


def _reduce(h1: torch.Tensor, h2: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both ``(C, N)`` feature sets projected on the ``dims`` leading principal axes of their union,
    each column scaled to unit length: ``(d, N1)``, ``(d, N2)``."""
    both = torch.cat([h1, h2], dim=1)
    mean = both.mean(dim=1, keepdim=True)
    if h1.shape[0] > dims:
        x = both - mean
        cov = (x @ x.T) / x.shape[1]
        axes = _leading_axes(cov, dims)
        h1, h2 = axes.T @ (h1 - mean), axes.T @ (h2 - mean)
    else:
        h1, h2 = h1 - mean, h2 - mean
    return F.normalize(h1, dim=0), F.normalize(h2, dim=0)


def match_scales(
    hyper_1: torch.Tensor, hyper_2: torch.Tensor, params: COATParams, dtype: torch.dtype = torch.float32
) -> dict[str, Confident]:
    """Eq. 1-2 at every hierarchy scale between content hypercolumns ``(1, 2688, h1, w1)`` and style
    hypercolumns ``(1, 2688, h2, w2)``: ``{scale name: confident set}``."""
    return align_scales(hyper_1, hyper_2, params, dtype)[0]


def align_scales(
    hyper_1: torch.Tensor,
    hyper_2: torch.Tensor,
    params: COATParams,
    dtype: torch.dtype = torch.float32,
    flow: torch.Tensor | None = None,
    style_size: tuple[int, int] | None = None,
) -> tuple[dict[str, Confident], dict[str, PartFill] | None]:
    """:func:`match_scales`, and with a dense correspondence ``flow`` ``(2, H, W)`` (content -> style
    pixels, style of ``style_size``) every scale's part fill (:mod:`analogist.methods.coat_fill`)."""
    g1, g2 = tuple(hyper_1.shape[-2:]), tuple(hyper_2.shape[-2:])
    c1, c2 = capped_grid(g1, params.max_cells), capped_grid(g2, params.max_cells)
    if (c1, c2) != (g1, g2):
        # matched on average-pooled cells, each fine position taking its cell's match (as the learned form)
        pooled_1, pooled_2 = F.adaptive_avg_pool2d(hyper_1, c1), F.adaptive_avg_pool2d(hyper_2, c2)
        coarse, fills = align_scales(pooled_1, pooled_2, params, dtype, flow, style_size)
        confident = {name: refine(c, c1, c2, g1, g2) for name, c in coarse.items()}
        if fills is not None:
            carried = {k: refine_index(f.index, c1, c2, g1, g2) for k, f in fills.items()}
            fills = {k: PartFill(index, fills[k].weight[cell]) for k, (index, cell) in carried.items()}
        return confident, fills
    f1, f2 = flatten(hyper_1), flatten(hyper_2)
    reduced = [_reduce(f1[s], f2[s], params.match_dims) for s in _slices()]
    confident: dict[str, Confident] = {}
    features = {}
    for k, (name, _, _) in enumerate(SCALES):
        parts = reduced[k:] if params.context == "pyramid" else reduced[k : k + 1]
        m1 = torch.cat([p[0] for p in parts], dim=0)
        m2 = torch.cat([p[1] for p in parts], dim=0)
        confident[name] = confident_set(m1, m2, params.threshold, chunk=params.chunk, dtype=dtype)
        features[name] = (m1, m2)
    if flow is None or style_size is None:
        return confident, None
    centres = part_centres(flow, g1, g2, style_size)
    gate = support_gate(list(confident.values()), centres, g2, params.fill_support)
    fills = {}
    for name, (m1, m2) in features.items():
        part = restricted_match(m1.reshape(1, -1, *g1), m2.reshape(1, -1, *g2), centres, params.fill_radius)
        fills[name] = fill_scale(confident[name], part, gate, params.fill)
    return confident, fills


def _texture_scales(
    hyper_1: torch.Tensor,
    hyper_2: torch.Tensor,
    texture_level: int,
    swap: Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor],
) -> torch.Tensor:
    """``hyper_1`` ``(1, 2688, h1, w1)`` with every scale finer than the ``texture_level`` coarsest ones
    replaced by ``swap(content scale, style scale, scale name)``."""
    aligned = hyper_1.clone()
    for k, ((name, _, _), s) in enumerate(zip(SCALES, _slices())):
        if k < MAX_LEVEL - texture_level:
            aligned[:, s] = swap(hyper_1[:, s], hyper_2[:, s], name)
    return aligned


def swap_scales(
    hyper_1: torch.Tensor, hyper_2: torch.Tensor, confident: dict[str, Confident], texture_level: int
) -> torch.Tensor:
    """Eq. 3 on the texture scales: ``(1, 2688, h1, w1)``, the content's hypercolumns with every scale
    finer than the ``texture_level`` coarsest ones swapped to the style's on its confident set."""
    return _texture_scales(hyper_1, hyper_2, texture_level, lambda f1, f2, name: latent_swap(f1, f2, confident[name]))


def fill_scales(
    hyper_1: torch.Tensor, hyper_2: torch.Tensor, fills: dict[str, PartFill], texture_level: int
) -> torch.Tensor:
    """:func:`swap_scales` with the part fill: ``(1, 2688, h1, w1)``, every scale finer than the
    ``texture_level`` coarsest ones moved to the style's by its :class:`PartFill`."""
    return _texture_scales(hyper_1, hyper_2, texture_level, lambda f1, f2, name: fill_swap(f1, f2, fills[name]))


__all__ = ["SCALES", "MAX_LEVEL", "CHANNELS", "match_scales", "align_scales", "swap_scales", "fill_scales"]
