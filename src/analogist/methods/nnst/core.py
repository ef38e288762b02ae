"""Neural Neighbor Style Transfer, optimisation variant NNST-Opt (Kolkin et al. 2022).

The content's VGG16 hypercolumns (relu1_1 ... relu4_3, 2688 channels, each layer divided by its
channel count, at a quarter of the image resolution) are replaced by their zero-centred cosine nearest
neighbours among the style's (and its 90/180/270 degree rotations'), and an image parameterised as a
Laplacian pyramid is optimised with Adam so that its features point the same way (mean cosine
distance, Eq. 8). This runs coarse to fine over four scales; a final phase at full resolution matches
every layer separately against the current output after each update (feature splitting). Colour
post-processing (section 3.5) and optional guidance (section 5) finish it.

Facts taken from the authors' code: the output starts as the content pyramid with its finest levels
zeroed; the query at each scale after the first mixes the content with the previous output carrying
the content's band at that scale; rotated style features are extra samples; the splitting phase
subsamples large maps on a grid with a random offset per step.

Speed on a CPU comes from running the network and the matching products on the fastest path the
machine measures (``precision="auto"``, :mod:`analogist.features.precision`: bfloat16, int8 products or
channels-last where they beat float32 there), from an optimisation step whose only large costs are the network's
convolutions (the hypercolumn is read off the channels-last maps without copying them, its gradient
added in place, and Eq. 8 has a closed-form backward pass), from caching the style features per scale,
and from bounding the number of style samples and splitting-phase queries (seeded subsampling, see
:class:`StylizeParams`). At 512 px the paper's settings make about 400 forward and backward passes of
VGG16 at full resolution, some 60 TMAC, which is the bulk of their time on a CPU.
"""

from __future__ import annotations

import torch

from ...features import get_backbone
from ...features.hypercolumn import extractor_for, grid_size
from ...features.precision import product_dtype
from ...matching.hypercolumn import Keys
from ...progress import Progress, silent
from ...synthesis import pyramid
from ...synthesis.hyperopt import optimise_pyramid
from .params import PADDING, StylizeParams
from .samples import finish, guide_at, mix, nearest_targets, scale_styles
from .split import split_phase


def stylize_opt(
    content: torch.Tensor,
    style: torch.Tensor,
    params: StylizeParams | None = None,
    *,
    content_guide: torch.Tensor | None = None,
    style_guide: torch.Tensor | None = None,
    progress: Progress = silent,
) -> torch.Tensor:
    """NNST-Opt on checked inputs (see :func:`analogist.methods.nnst.stylize`): ``(1, 3, H, W)`` in [0, 1].

    The guides, when given, are ``(1, 3, H, W)`` / ``(1, 3, Hs, Ws)``: the sizes of their images.
    """
    params = params or StylizeParams()
    # everything runs on the content's device; random choices come from a CPU generator, so one seed
    # gives the same style samples and splitting grids on every device
    device = content.device
    extractor = extractor_for(
        get_backbone(params.backbone, params.weights, device=device), params.precision, "conv-train", padding=PADDING
    )
    key_dtype = product_dtype(params.precision, device)
    generator = torch.Generator().manual_seed(params.seed)
    content, style = content.float().detach(), style.float().detach().to(device)
    if content_guide is not None:
        content_guide, style_guide = content_guide.to(device), style_guide.to(device)

    c_pyr = pyramid.build(content, params.levels)
    s_pyr = pyramid.build(style, params.levels)
    g_pyr = pyramid.build(style_guide, params.levels) if style_guide is not None else None
    out = [torch.zeros_like(b) if i < params.zero_levels else b.clone() for i, b in enumerate(c_pyr)]

    for i, s in enumerate(reversed(range(params.scales))):
        content_s = pyramid.collapse(c_pyr[s:])
        with torch.no_grad():
            if i == 0:
                query = content_s  # nothing to mix with yet
            else:
                previous = pyramid.collapse([c_pyr[s]] + out[s + 1 :])  # content's band at this scale
                query = mix(previous, content_s, params)
            styles = scale_styles(extractor, s_pyr, g_pyr, s, params, generator)
            keys = Keys.build(styles.feats, styles.guide, dtype=key_dtype)
            qf = extractor.hyper(query)
            qguide = guide_at(content_guide, qf.shape[-2:]) if content_guide is not None else None
            target = nearest_targets(qf, styles, keys, query_guide=qguide, params=params)
            del keys
        h, w = content_s.shape[-2:]
        desc = f"scale {i + 1}/{params.scales} {w}x{h}"
        out[s:] = optimise_pyramid(
            out[s:], target, extractor, lr=params.lr, steps=params.steps, progress=progress, desc=desc
        )

    if params.split_steps:
        qguide = guide_at(content_guide, grid_size(content)) if content_guide is not None else None
        out = split_phase(
            out,
            styles,
            extractor,
            params,
            key_dtype,
            qguide,
            generator,
            progress,
            f"splitting {content.shape[-1]}x{content.shape[-2]}",
        )

    with torch.no_grad():
        result = pyramid.collapse(out).clamp(0.0, 1.0)
    return finish(result, content, style, params)
