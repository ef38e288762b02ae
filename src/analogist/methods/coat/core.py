"""COAT: correspondence-driven object appearance transfer (Jeon et al., BMVC 2022), training-free form.

The content ``I_1`` and the style ``I_2`` are encoded into a feature hierarchy: the VGG16 layers of
Neural Neighbor Style Transfer (relu1_1 ... relu4_3) in four scales (blocks 1-4), read as hypercolumns at
a quarter of the image resolution. At every scale the cosine similarity ``S_l`` (Eq. 1, in chunks), the
soft mutual consistency ``Q_l`` and its confident set (Eq. 2) are computed, and the latent swap (Eq. 3)
gives the aligned style map. The paper decodes the content maps in the first ``n`` layers of a StyleGAN
and the aligned maps in the rest; without a generator, the output image is synthesised instead by the
Laplacian-pyramid optimisation of NNST (:func:`analogist.synthesis.hyperopt.optimise_pyramid`) towards a
target whose ``n`` coarsest scales (the structure layers) are the content's features and whose finer
scales (the texture layers) are the aligned style features. Smaller ``n`` moves more texture (Fig. 4).

Not from the paper: the features a scale is matched on (see :class:`COATParams.context`), the part
fill of the texture scales outside the confident set (:mod:`analogist.methods.coat.fill`, ``fill``) and
the equal weight of every hierarchy scale in the synthesis (``equal_scales``): without them the texture
level barely mattered (the appearance distance moved by 0.1-0.2 over n = 0 ... 3) and most of an
animal's fur kept the content's colour.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from ...features import get_backbone
from ...features.hypercolumn import extractor_for
from ...features.precision import product_dtype
from ...io import check_image
from ...matching.mutual import Confident, capped_grid
from ...progress import Progress, silent
from ...synthesis import pyramid
from ...synthesis.hyperopt import optimise_pyramid
from ...synthesis.part_color import part_color
from .correspond import MAX_LEVEL, SCALES, fill_scales, match_and_fill_scales, swap_scales
from .fill import PartFill
from .params import FINE_SIDE, Alignment, COATParams, COATResult


def recolor(
    image: torch.Tensor,
    style: torch.Tensor,
    confident: dict[str, Confident],
    grid_1: tuple[int, int],
    grid_2: tuple[int, int],
    params: COATParams,
    fill: PartFill | None = None,
) -> torch.Tensor:
    """The colour step of both forms: ``image`` ``(1, 3, H, W)`` recoloured after ``style`` part by part
    along the finest scale's part ``fill`` (its matches, weighted by its weights) or, without one, its
    nearest neighbours weighted by their ``Q``. The window is ``color_sigma`` cells of the matched grid,
    so it covers the same share of the picture at every size."""
    if fill is None:
        finest = confident[SCALES[0][0]]
        index, weight = finest.index, finest.q
    else:
        index, weight = fill.index, fill.weight
    cells_per_match = max(grid_1) / max(capped_grid(grid_1, params.max_cells))
    return part_color(
        image,
        style,
        index,
        weight,
        grid_1,
        grid_2,
        sigma=params.color_sigma * cells_per_match,
        luminance=params.color_luminance,
        confine=None if fill is None else params.color_confine,
    )


def _fixed_from(params: COATParams, n: int, scale: int) -> int | None:
    """Index, in the bands of optimisation scale ``scale`` (``out[scale:]``), of the first band kept as
    the content's at texture level ``n`` (see :attr:`COATParams.texture_bands`)."""
    if params.texture_bands is None:
        return None
    return params.texture_bands + MAX_LEVEL - n - scale


def _steps(params: COATParams, image: torch.Tensor, *, last: bool) -> int:
    """Adam steps at one optimisation scale: ``fine_steps`` at the finest and at every scale of at least
    :data:`FINE_SIDE` px (each such step costs as much as all the coarser scales' steps together),
    ``steps`` elsewhere."""
    fine = last or max(image.shape[-2:]) >= FINE_SIDE
    return params.fine_steps if fine and params.fine_steps is not None else params.steps


def part_flow(content: torch.Tensor, style: torch.Tensor, progress: Progress = silent) -> torch.Tensor:
    """The dense correspondence the part fill follows: SAM-Net's flow ``(2, H, W)`` from ``content``
    ``(1, 3, H, W)`` to ``style`` pixels, with its default (best measured) settings."""
    from ..samnet import sam_net

    return sam_net(content, style, progress=progress).flow


def free_levels(
    content: torch.Tensor,
    style: torch.Tensor,
    params: COATParams,
    levels: list[int],
    *,
    progress: Progress = silent,
) -> dict[int, COATResult]:
    """The training-free form at several texture levels ``n``, matching once: ``{n: result}`` (as Fig. 4)."""
    check_image(content, "content", min_side=16)
    check_image(style, "style", min_side=16)
    for n in levels:
        replace(params, texture_level=n)  # validates n
    t0 = time.perf_counter()
    dev = content.device  # the method follows its inputs' device
    extractor = extractor_for(get_backbone(params.backbone, params.weights, device=dev), params.precision, "conv-train")
    # the soft mutual consistency reads the similarities' values, so no int8 here
    sim_dtype = product_dtype(params.precision, dev, ("fp32", "bf16"))
    content, style = content.float().detach(), style.float().detach().to(dev)
    flow = part_flow(content, style, progress) if params.fill > 0 and min(levels) < MAX_LEVEL else None
    c_pyr = pyramid.build(content, params.levels)
    s_pyr = pyramid.build(style, params.levels)
    scales = []  # per optimisation scale, coarse to fine: (hyper_1, hyper_2, confident sets, part fills)
    for s in reversed(range(params.scales)):
        with torch.no_grad():
            h1 = extractor.hyper(pyramid.collapse(c_pyr[s:]))
            h2 = extractor.hyper(pyramid.collapse(s_pyr[s:]))
            scales.append((s, h1, h2, *match_and_fill_scales(h1, h2, params, sim_dtype, flow, tuple(style.shape[-2:]))))
    t_align = time.perf_counter() - t0
    groups = [b - a for _, a, b in SCALES] if params.equal_scales else None
    results = {}
    for n in levels:
        t = time.perf_counter()
        out = [torch.zeros_like(b) if i < params.zero_levels else b.clone() for i, b in enumerate(c_pyr)]
        for i, (s, h1, h2, confident, fills) in enumerate(scales):
            if n == MAX_LEVEL:
                break  # every scale is the content's
            h, w = c_pyr[s].shape[-2:]
            out[s:] = optimise_pyramid(
                out[s:],
                swap_scales(h1, h2, confident, n) if fills is None else fill_scales(h1, h2, fills, n),
                extractor,
                lr=params.lr,
                steps=_steps(params, c_pyr[s], last=i + 1 == len(scales)),
                progress=progress,
                desc=f"n={n} scale {i + 1}/{params.scales} {w}x{h}",
                groups=groups,
                fixed_from=_fixed_from(params, n, s),
            )
        _, h1, h2, confident, fills = scales[-1]
        with torch.no_grad():
            image = content.clone() if n == MAX_LEVEL else pyramid.collapse(out).clamp(0.0, 1.0)
        if params.color and n < MAX_LEVEL:
            finest = None if fills is None else fills[SCALES[0][0]]
            image = recolor(image, style, confident, tuple(h1.shape[-2:]), tuple(h2.shape[-2:]), params, finest)
        alignment = Alignment(confident, tuple(h1.shape[-2:]), tuple(h2.shape[-2:]), swap_scales(h1, h2, confident, n))
        results[n] = COATResult(image, alignment, {"align": t_align, "synthesis": time.perf_counter() - t})
    return results
