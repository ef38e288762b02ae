"""NNST's final phase (feature splitting): every layer matched separately against the current output.

Part of :mod:`analogist.methods.nnst` (the training-free form).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ...features.hypercolumn import Extractor, grid_size, layer_slices
from ...matching.hypercolumn import Keys, match
from ...progress import Progress
from ...synthesis import pyramid
from .samples import StyleSet, subsample

if TYPE_CHECKING:
    from .params import StylizeParams


def split_phase(
    bands: list[torch.Tensor],
    style: StyleSet,
    extractor: Extractor,
    params: StylizeParams,
    key_dtype: torch.dtype,
    content_guide: torch.Tensor | None,
    generator: torch.Generator,
    progress: Progress,
    desc: str,
) -> list[torch.Tensor]:
    """Final phase: every layer matched separately against the current output after each update, the
    products in ``key_dtype`` (see :class:`~analogist.matching.hypercolumn.Keys`)."""
    keep = subsample(style.feats.shape[1], params.split_style_samples, generator, style.feats.device)
    feats = style.feats if keep is None else style.feats.index_select(1, keep)
    guide = style.guide if keep is None or style.guide is None else style.guide.index_select(1, keep)
    slices = layer_slices()
    layer_feats = [feats[s] for s in slices]
    layer_keys = [Keys.build(f, guide, dtype=key_dtype) for f in layer_feats]
    layer_units = [F.normalize(f, dim=0).T.contiguous() for f in layer_feats]  # (N, C_l) targets

    variables = [b.detach().clone().requires_grad_(True) for b in bands]
    opt = torch.optim.Adam(variables, lr=params.lr)
    h, w = grid_size(pyramid.collapse(bands))
    stride = max(1, math.ceil(math.sqrt(h * w / params.split_queries)))
    for _ in progress(range(params.split_steps), total=params.split_steps, desc=desc):
        oy, ox = torch.randint(stride, (2,), generator=generator, device=generator.device).tolist()
        rows_y = torch.arange(oy, h, stride, device=feats.device)
        cols_x = torch.arange(ox, w, stride, device=feats.device)
        pos = (rows_y[:, None] * w + cols_x[None]).reshape(-1)
        qguide = content_guide[:, pos] if content_guide is not None else None
        opt.zero_grad(set_to_none=True)
        rows = [r[pos].float() for r in extractor.rows(pyramid.collapse(variables))]  # [(n, C_l)]
        loss = rows[0].new_zeros(())
        for x, unit, keys in zip(rows, layer_units, layer_keys):
            with torch.no_grad():
                idx = match(
                    x.detach().T,
                    keys,
                    query_guide=qguide,
                    w_cos=params.w_cos,
                    w_guide=params.w_guide,
                    chunk=params.chunk,
                )
            # per-layer cosine: the division by the channel count cancels
            loss = loss + (1.0 - (x * unit[idx]).sum(dim=1) / x.norm(dim=1).clamp_min(1e-12)).mean()
        (loss / len(rows)).backward()
        opt.step()
    return [v.detach() for v in variables]
