"""NNST's style samples and the nearest-neighbour targets of a query (section 3.1-3.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ...features.hypercolumn import Extractor, grid_size
from ...matching.hypercolumn import Keys, flatten, match, resize_bilinear
from ...synthesis import color, pyramid

if TYPE_CHECKING:
    from .params import StylizeParams


def guide_at(guide: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Guide image ``(1, 3, H, W)`` resized to ``size`` by area averaging, as ``(3, h*w)``."""
    return flatten(F.interpolate(guide.float(), size=size, mode="area"))


def subsample(n: int, keep: int, generator: torch.Generator, device: torch.device | None = None) -> torch.Tensor | None:
    """Sorted seeded random subset of ``range(n)`` of size ``keep`` on ``device``, or ``None`` if
    ``n <= keep``. Drawn on the generator's device (the CPU): one seed, one subset on every device."""
    if n <= keep:
        return None
    return torch.randperm(n, generator=generator, device=generator.device)[:keep].sort().values.to(device)


@dataclass(frozen=True)
class StyleSet:
    """Style hypercolumns as samples: ``feats`` ``(C, N)`` float32 and their ``guide`` ``(3, N)`` or None;
    ``where`` ``(N,)``: each sample's cell in the hypercolumn grids of the style's ``turns`` turned copies,
    stacked in row order."""

    feats: torch.Tensor
    guide: torch.Tensor | None
    where: torch.Tensor
    turns: int


@torch.no_grad()
def style_samples(
    extractor: Extractor,
    style: torch.Tensor,
    *,
    rotations: bool,
    max_samples: int,
    generator: torch.Generator,
    guide: torch.Tensor | None = None,
    turns: int = 4,
) -> StyleSet:
    """Hypercolumns of ``style`` ``(1, 3, Hs, Ws)`` (and of its three rotations) as ``(2688, N)``.

    ``turns`` (with ``rotations``): the style turned by 0, 90, 180, 270 degrees, the first ``turns``
    of them (2: 0 and 90 degrees, which already give every stroke orientation modulo 180).

    Above ``max_samples`` a seeded random subset is kept. ``guide`` ``(1, 3, Hs, Ws)`` is rotated
    and sampled alongside. The subset is drawn before the hypercolumns are stacked, and only its
    columns are: at 512 px with rotations, stacking every one of the ~50k columns (0.5 GB) and then
    keeping 4,096 cost more than the matching. The numbers are those of stacking first.
    """
    images = [torch.rot90(style, k, dims=(2, 3)) for k in range(max(1, min(turns, 4)) if rotations else 1)]
    sizes = [grid_size(image) for image in images]
    counts = [h * w for h, w in sizes]
    keep = subsample(sum(counts), max_samples, generator, style.device)
    feats, guides, start = [], [], 0
    for k, (image, size, n) in enumerate(zip(images, sizes, counts)):
        # this rotation's share of the kept columns, as positions in its own grid
        pos = None if keep is None else keep[(keep >= start) & (keep < start + n)] - start
        start += n
        columns = [
            flatten(resize_bilinear(f, size)).float() if pos is None else _columns(f, size, pos)
            for f in extractor.layers(image)
        ]
        feats.append(torch.cat([c / d for c, d in zip(columns, extractor.channels)], dim=0))
        if guide is not None:
            g = guide_at(torch.rot90(guide, k, dims=(2, 3)), size)
            guides.append(g if pos is None else g.index_select(1, pos))
    all_guides = torch.cat(guides, dim=1) if guide is not None else None
    where = torch.arange(sum(counts), device=style.device) if keep is None else keep
    return StyleSet(torch.cat(feats, dim=1).contiguous(), all_guides, where, len(images))


def _columns(f: torch.Tensor, size: tuple[int, int], pos: torch.Tensor) -> torch.Tensor:
    """Columns ``pos`` ``(k,)`` of :func:`resize_bilinear` of ``f`` ``(1, C, H, W)`` as float ``(C, k)``."""
    return flatten(resize_bilinear(f, size)).index_select(1, pos).float()


def nearest_targets(
    query: torch.Tensor,
    style: StyleSet,
    keys: Keys,
    *,
    query_guide: torch.Tensor | None,
    params: StylizeParams,
) -> torch.Tensor:
    """Replace every hypercolumn of ``query`` ``(1, C, h, w)`` by its style neighbour: ``(1, C, h, w)``."""
    idx = match(
        flatten(query), keys, query_guide=query_guide, w_cos=params.w_cos, w_guide=params.w_guide, chunk=params.chunk
    )
    return style.feats[:, idx].reshape(query.shape)


def scale_styles(
    extractor: Extractor,
    s_pyr: list[torch.Tensor],
    g_pyr: list[torch.Tensor] | None,
    scale: int,
    params: StylizeParams,
    generator: torch.Generator,
) -> StyleSet:
    """:func:`style_samples` of the style pyramid ``s_pyr`` collapsed down to ``scale`` (and its guide)."""
    return style_samples(
        extractor,
        pyramid.collapse(s_pyr[scale:]),
        rotations=params.rotations,
        turns=params.turns,
        max_samples=params.max_style_samples,
        generator=generator,
        guide=pyramid.collapse(g_pyr[scale:]).clamp(0, 1) if g_pyr else None,
    )


def mix(previous: torch.Tensor, content: torch.Tensor, params: StylizeParams) -> torch.Tensor:
    """The query of every scale after the first: ``alpha`` of the previous output, the rest content."""
    return params.alpha * previous + (1.0 - params.alpha) * content


def finish(result: torch.Tensor, content: torch.Tensor, style: torch.Tensor, params: StylizeParams) -> torch.Tensor:
    """The colour post-processing of section 3.5 (when ``params.color``), on ``result``'s device.

    OpenCV's guided filter and colour conversions run once per image, on the CPU; the radius is
    ``params.color_radius`` at 512 px, scaled with the content's longer side.
    """
    if not params.color:
        return result
    radius = max(1, round(params.color_radius * max(content.shape[-2:]) / 512))
    return color.postprocess(result.cpu(), content.cpu(), style.cpu(), radius=radius).to(result.device)
