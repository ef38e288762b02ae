"""COAT's latent alignment (Jeon et al., BMVC 2022, section 3.1) on VGG16 hypercolumns: the confident
sets of every hierarchy scale (Eq. 1-2, :mod:`analogist.matching.mutual`) and the latent swap of the
texture scales (Eq. 3). Used by :mod:`analogist.methods.coat`.

Not from the paper: the features a scale is matched on (see :class:`analogist.methods.coat.COATParams`'s
``context``), the matching of large grids on pooled cells (``max_cells``) and the part fill of the
positions outside the confident set (:mod:`analogist.methods.coat.fill`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ...features.hypercolumn import layer_slices
from ...features.pca import principal_axes
from ...matching.hypercolumn import flatten
from ...matching.mutual import Confident, capped_grid, confident_set, latent_swap, refine, refine_index
from .fill import PartFill, fill_scale, fill_swap, part_centres, restricted_match, support_gate
from .params import MAX_LEVEL, SCALES, COATParams


def _reduce(h1: torch.Tensor, h2: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both ``(C, N)`` feature sets projected on the ``dims`` leading principal axes of their union,
    each column scaled to unit length: ``(d, N1)``, ``(d, N2)``."""
    both = torch.cat([h1, h2], dim=1)
    if h1.shape[0] > dims:
        mean, axes = principal_axes(both, dims, exact=False)
        h1, h2 = axes.T @ (h1 - mean), axes.T @ (h2 - mean)
    else:
        mean = both.mean(dim=1, keepdim=True)
        h1, h2 = h1 - mean, h2 - mean
    return F.normalize(h1, dim=0), F.normalize(h2, dim=0)


def match_scales(
    hyper_1: torch.Tensor, hyper_2: torch.Tensor, params: COATParams, dtype: torch.dtype = torch.float32
) -> dict[str, Confident]:
    """Eq. 1-2 at every hierarchy scale between content hypercolumns ``(1, 2688, h1, w1)`` and style
    hypercolumns ``(1, 2688, h2, w2)``: ``{scale name: confident set}``."""
    return match_and_fill_scales(hyper_1, hyper_2, params, dtype)[0]


def match_and_fill_scales(
    hyper_1: torch.Tensor,
    hyper_2: torch.Tensor,
    params: COATParams,
    dtype: torch.dtype = torch.float32,
    flow: torch.Tensor | None = None,
    style_size: tuple[int, int] | None = None,
) -> tuple[dict[str, Confident], dict[str, PartFill] | None]:
    """:func:`match_scales`, and with a dense correspondence ``flow`` ``(2, H, W)`` (content -> style
    pixels, style of ``style_size``) every scale's part fill (:mod:`analogist.methods.coat.fill`)."""
    g1, g2 = tuple(hyper_1.shape[-2:]), tuple(hyper_2.shape[-2:])
    c1, c2 = capped_grid(g1, params.max_cells), capped_grid(g2, params.max_cells)
    if (c1, c2) != (g1, g2):
        # matched on average-pooled cells, each fine position taking its cell's match (as the learned form)
        pooled_1, pooled_2 = F.adaptive_avg_pool2d(hyper_1, c1), F.adaptive_avg_pool2d(hyper_2, c2)
        coarse, fills = match_and_fill_scales(pooled_1, pooled_2, params, dtype, flow, style_size)
        confident = {name: refine(c, c1, c2, g1, g2) for name, c in coarse.items()}
        if fills is not None:
            carried = {k: refine_index(f.index, c1, c2, g1, g2) for k, f in fills.items()}
            fills = {k: PartFill(index, fills[k].weight[cell]) for k, (index, cell) in carried.items()}
        return confident, fills
    f1, f2 = flatten(hyper_1), flatten(hyper_2)
    reduced = [_reduce(f1[s], f2[s], params.match_dims) for s in layer_slices([(a, b) for _, a, b in SCALES])]
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
    for k, ((name, _, _), s) in enumerate(zip(SCALES, layer_slices([(a, b) for _, a, b in SCALES]))):
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


__all__ = ["SCALES", "MAX_LEVEL", "match_scales", "match_and_fill_scales", "swap_scales", "fill_scales"]
