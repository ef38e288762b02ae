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
fill of the texture scales outside the confident set (:mod:`analogist.methods.coat_fill`, ``fill``) and
the equal weight of every hierarchy scale in the synthesis (``equal_scales``): without them the texture
level barely mattered (the appearance distance moved by 0.1-0.2 over n = 0 ... 3) and most of an
animal's fur kept the content's colour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch

from ..errors import InputError
from ..features import get_backbone
from ..io import check_image
from ..matching.mutual import Confident
from ..progress import Progress, silent
from ..synthesis import pyramid
from ..synthesis.hyperopt import optimise_pyramid
from ..synthesis.part_color import part_color
from .coat_align import MAX_LEVEL, SCALES, align_scales, fill_scales, match_scales, swap_scales
from .coat_fill import PartFill
from .stylize import BACKBONES
from .stylize_features import extractor_for, product_dtype

#: Optimisation scales with a longer side of at least this many pixels take ``fine_steps`` Adam steps.
FINE_SIDE = 256
#: ... and those of at least this many ``large_steps``.
LARGE_SIDE = 512


@dataclass(frozen=True)
class COATParams:
    """Parameters of COAT's training-free form.

    Attributes:
        texture_level: ``n``, how many of the coarsest scales keep the content's features (the
            structure layers); the finer ones take the aligned style features. 0 moves the most
            texture, :data:`MAX_LEVEL` returns the content.
        threshold: ``t`` of the confident set ``Q >= t``; 1 keeps the mutual nearest neighbours only
            (the paper), lower values swap more positions.
        context: features each scale is matched on. ``"pyramid"``: the scale's own layers and every
            coarser scale's (each scale reduced to ``match_dims`` principal components and weighted
            equally), so fine scales match by what the coarse ones see (like the top-down pyramid of
            the paper's encoder); ``"own"``: the scale's own layers only.
        match_dims: principal components kept per scale for matching.
        scales: coarse-to-fine optimisation scales (each half the next).
        steps: Adam steps per optimisation scale; ``lr``: its step size.
        levels, zero_levels: Laplacian pyramid levels of the output, and how many of the finest start
            at zero (the rest start as the content's).
        backbone, weights: VGG16 weights (see :data:`analogist.methods.stylize.BACKBONES`).
        precision: ``"auto"`` (network and similarity products each on the path this machine measures
            fastest, :mod:`analogist.features.precision`), ``"fp32"`` or ``"bf16"`` (forced).
        chunk: rows of ``S`` per matrix product (memory about ``chunk * positions`` floats); 256 rows
            of 4,096 stay in the cache: the confident sets took 30 % less time than with 2,048.
        fine_steps: Adam steps at the finest optimisation scale and at every scale of at least
            :data:`FINE_SIDE` px (``None``: ``steps``); a step costs four times one of the next coarser
            scale, so fewer there keep 512 px affordable.
        large_steps: Adam steps at every scale of at least :data:`LARGE_SIDE` px (``None``: as
            ``fine_steps``): at 512 px each step took 6 CPU s, 60 % of the run with 10 steps.
        max_cells: most cells matched at once: a larger hypercolumn grid (over 256 x 256 px) is matched
            on average-pooled cells, halved until this many, each position taking its cell's match;
            at 512 px the full grid has 16,384 cells and the products of the four scales 170 GMAC.
        color: the part-by-part colour step after the synthesis
            (:func:`analogist.synthesis.part_color.part_color` along the finest scale's nearest
            neighbours, weighted by ``Q``): the optimisation alone left the colour the content's and blotchy.
        color_sigma: its window in hypercolumn cells (4 px each); ``color_luminance``: how far the local
            mean lightness moves (0 keeps the content's shading, the structure measure's concern).
        learned_side: the learned form's networks run on the images scaled to at most this longer
            side, and the result comes back to full size with the content's finer detail, then the
            colour step at full size: the checkpoint was trained on 64-px crops, and at 512 px the
            encoder, matcher and full-resolution decoder took 6 of its 7 CPU s. 192 (48 x 48 cells
            matched): 1.1 CPU s at 512 px against 2.4 at 256 and 7.3 at full size, with as good
            structure and appearance scores on the benchmark's five pairs.
        color_confine: with the part fill, the colour step fades out where the local mean of the
            fill's weights is below this (parts without a counterpart keep their colour; ``None``: every
            part moves). 0.2: on five pairs at 256 px the appearance distance is within 0.1 of moving
            every part (0.5 on face0) and SSIM is 0.02-0.20 higher (a white background no longer takes
            a dark one's colour).
        fill: how far the texture scales' positions outside the confident set move to their part's
            style feature (times the gate of :mod:`analogist.methods.coat_fill`); 0 is the paper's
            swap alone. The parts come from SAM-Net's dense correspondence (its default matcher).
        fill_radius: cells around SAM-Net's match searched for the part's best style feature.
        fill_support: density of confident pairs agreeing with SAM-Net at which a part moves fully.
        texture_bands: at texture level ``n`` the output's ``texture_bands + MAX_LEVEL - n`` finest
            Laplacian bands are optimised (at the default ``n = 2`` the four finest, down to a sixteenth
            of the image's resolution) and the coarser ones, its shapes and shading, stay the content's
            (the colour step still moves their colour): ``n`` sets how coarse a texture may move, in
            pixels as in features. ``None``: every band is optimised at every ``n``, which cost faces
            0.01-0.14 of SSIM at ``n = 2`` (256 px) for little more appearance moved.
        equal_scales: every hierarchy scale's cosine distance weighs the same in the synthesis (the
            hypercolumn's squared norm is about 0.75 / 0.20 / 0.05 / 0.004 over block1 ... block4, so
            with one cosine the structure and texture levels n hands over barely counted).
    """

    texture_level: int = 2
    threshold: float = 1.0
    context: str = "pyramid"
    match_dims: int = 64
    scales: int = 3
    steps: int = 30
    lr: float = 4e-3
    levels: int = 8
    zero_levels: int = 2
    backbone: str = "vgg16-hed"
    weights: str | None = None
    precision: str = "auto"
    chunk: int = 256
    fine_steps: int | None = 10
    large_steps: int | None = 4
    max_cells: int = 4096
    color: bool = True
    color_sigma: float = 3.0
    color_luminance: float = 0.0
    learned_side: int = 192
    color_confine: float | None = 0.2
    fill: float = 1.0
    fill_radius: int = 3
    fill_support: float = 0.15
    texture_bands: int | None = 2
    equal_scales: bool = True

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.texture_level <= MAX_LEVEL, f"texture level must be 0..{MAX_LEVEL}"),
            (0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]"),
            (self.context in ("pyramid", "own"), "context must be pyramid or own"),
            (self.match_dims >= 1 and self.chunk >= 1, "match_dims and chunk must be positive"),
            (1 <= self.scales <= 6 and self.levels >= self.scales, "scales must be 1..6 and at most levels"),
            (0 <= self.zero_levels < self.levels, "zero_levels must be below levels"),
            (self.steps >= 0 and self.lr > 0, "steps must not be negative and lr must be positive"),
            (
                all(n is None or n >= 0 for n in (self.fine_steps, self.large_steps)),
                "fine_steps and large_steps must not be negative",
            ),
            (self.max_cells >= 1 and self.learned_side >= 16, "max_cells must be positive, learned_side 16 or more"),
            (
                0 <= self.fill <= 1 and self.fill_radius >= 0 and self.fill_support > 0,
                "fill must be 0..1, fill_radius not negative and fill_support positive",
            ),
            (
                self.texture_bands is None or self.texture_bands >= max(1, self.zero_levels - 1),
                "texture_bands must be 1 or more and at least zero_levels - 1 (bands that start at zero are optimised)",
            ),
            (
                self.color_sigma > 0
                and 0 <= self.color_luminance <= 1
                and (self.color_confine is None or self.color_confine > 0),
                "color_sigma and color_confine must be positive, color_luminance 0..1",
            ),
            (self.backbone in BACKBONES, f"backbone must be one of {', '.join(BACKBONES)}"),
            (self.precision in ("auto", "fp32", "bf16"), "precision must be auto, fp32 or bf16"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"{message} (got {self})")


@dataclass
class Alignment:
    """The latent alignment of one image scale: per hierarchy scale its confident set and grid."""

    confident: dict[str, Confident]
    grid_1: tuple[int, int]
    grid_2: tuple[int, int]
    aligned: torch.Tensor | None  #: ``(1, 2688, h1, w1)`` the content hypercolumn with swapped scales (free form)

    def pairs(self) -> dict[str, int]:
        return {name: c.pairs for name, c in self.confident.items()}


@dataclass
class COATResult:
    """``image`` ``(1, 3, H, W)`` in [0, 1]; ``alignment`` at the finest scale; ``timings`` in s."""

    image: torch.Tensor
    alignment: Alignment
    timings: dict[str, float] = field(default_factory=dict)


def align(
    hyper_1: torch.Tensor, hyper_2: torch.Tensor, params: COATParams, dtype: torch.dtype = torch.float32
) -> Alignment:
    """:func:`match_scales` and :func:`swap_scales` at ``params.texture_level``. The structure scales
    are matched too (the report and the pictures show them) but not swapped."""
    confident = match_scales(hyper_1, hyper_2, params, dtype)
    aligned = swap_scales(hyper_1, hyper_2, confident, params.texture_level)
    return Alignment(confident, tuple(hyper_1.shape[-2:]), tuple(hyper_2.shape[-2:]), aligned)


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
    nearest neighbours weighted by their ``Q``."""
    finest = confident[SCALES[0][0]]
    index, weight = (finest.index, finest.q) if fill is None else (fill.index, fill.weight)
    return part_color(
        image,
        style,
        index,
        weight,
        grid_1,
        grid_2,
        sigma=params.color_sigma,
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
    """Adam steps at one optimisation scale: ``large_steps`` at every scale of at least
    :data:`LARGE_SIDE` px, ``fine_steps`` at the finest and at every scale of at least :data:`FINE_SIDE`
    px (each such step costs as much as all the coarser scales' steps together), ``steps`` elsewhere."""
    side = max(image.shape[-2:])
    if side >= LARGE_SIDE and params.large_steps is not None:
        return params.large_steps
    fine = last or side >= FINE_SIDE
    return params.fine_steps if fine and params.fine_steps is not None else params.steps


def part_flow(content: torch.Tensor, style: torch.Tensor, progress: Progress = silent) -> torch.Tensor:
    """The dense correspondence the part fill follows: SAM-Net's flow ``(2, H, W)`` from ``content``
    ``(1, 3, H, W)`` to ``style`` pixels, with its default (best measured) settings."""
    from .samnet import sam_net  # on use: its backbone loads only when the fill is on

    return sam_net(content, style, progress=progress).flow


def coat(
    content: torch.Tensor,
    style: torch.Tensor,
    params: COATParams = COATParams(),
    *,
    progress: Progress = silent,
) -> COATResult:
    """Give ``content`` ``(1, 3, H, W)`` the part-by-part appearance of ``style`` ``(1, 3, Hs, Ws)``
    (both RGB in [0, 1]); the result has the content's size and structure."""
    return coat_levels(content, style, params, [params.texture_level], progress=progress)[params.texture_level]


def coat_levels(
    content: torch.Tensor,
    style: torch.Tensor,
    params: COATParams,
    levels: list[int],
    *,
    progress: Progress = silent,
) -> dict[int, COATResult]:
    """:func:`coat` at several texture levels ``n``, matching once: ``{n: result}`` (as Fig. 4)."""
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
            scales.append((s, h1, h2, *align_scales(h1, h2, params, sim_dtype, flow, tuple(style.shape[-2:]))))
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


__all__ = [
    "SCALES",
    "MAX_LEVEL",
    "COATParams",
    "Alignment",
    "COATResult",
    "align",
    "match_scales",
    "swap_scales",
    "part_flow",
    "recolor",
    "coat",
    "coat_levels",
]
