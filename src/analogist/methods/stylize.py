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

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..features import get_backbone
from ..io import check_image
from ..matching.hypercolumn import Keys
from ..progress import Progress, silent
from ..synthesis import color, pyramid
from ..synthesis.hyperopt import optimise_pyramid
from .stylize_features import (
    BACKBONES,
    HYPER_STRIDE,
    LAYERS,
    Extractor,
    StyleSet,
    extractor_for,
    grid_size,
    guide_at,
    nearest_targets,
    product_dtype,
    style_samples,
)
from .stylize_split import split_phase

#: the names NNST-D, COAT and NNST-D's training import from here
_guide_at, _grid_size = guide_at, grid_size


@dataclass(frozen=True)
class StylizeParams:
    """Parameters of NNST-Opt; defaults are the paper's ("paper" preset) where the paper gives one.

    Attributes:
        alpha: stylisation level: weight of the previous output (against ``1 - alpha`` of the content)
            in the image whose features are matched at every scale after the first.
        scales: coarse-to-fine scales, each half the next (4: eighth, quarter, half, full).
        lr: Adam learning rate on the pyramid coefficients.
        steps: Adam steps per scale.
        split_steps: Adam steps of the final feature-splitting phase at full resolution (0 skips it).
        levels: Laplacian pyramid levels of the output parameterisation.
        zero_levels: finest pyramid levels of the content zeroed to start the output (authors: 3
            below 1024 px, 2 above).
        rotations: add the style rotated by 90, 180 and 270 degrees as extra samples.
        turns: with ``rotations``, how many of the turns 0, 90, 180, 270 degrees (2: 0 and 90, which
            give every stroke orientation modulo 180 at half the VGG passes).
        color: colour post-processing of section 3.5 (skipped by itself for near-monochrome styles).
        w_cos, w_guide: weights of the cosine and the guidance terms when guides are given (section 5).
        seed: seeds every random choice (style subsampling, splitting-phase grid offsets).
        max_style_samples: style hypercolumns kept per scale (seeded random subset above it); bounds
            the matching memory and time. At 512 px the style with rotations has about 65k.
        split_queries: output positions matched per splitting-phase step; larger maps are read on a
            grid of stride ``ceil(sqrt(positions / split_queries))`` with a random offset per step
            (authors: 128**2; ours is smaller because every step pays for it on a CPU).
        split_style_samples: style samples per layer in the splitting phase (seeded random subset).
        backbone: one of :data:`BACKBONES`; ``weights``: explicit weight file or ``None``.
        precision: ``"auto"``: network and matching products each on the path this machine measures
            fastest (:mod:`analogist.features.precision`; ``ANALOGIST_PRECISION`` overrides it);
            ``"fp32"``, ``"bf16"`` (network and products in bfloat16) or ``"int8"`` (network in fp32,
            nearest-neighbour products in int8, :mod:`analogist.matching.int8`) force one.
        chunk: queries per matching product (memory about ``chunk * style samples`` floats).
        color_radius: guided-filter radius in pixels at 512 px (scaled with the image).
    """

    alpha: float = 0.25
    scales: int = 4
    lr: float = 2e-3
    steps: int = 200
    split_steps: int = 200
    levels: int = 8
    zero_levels: int = 3
    rotations: bool = True
    turns: int = 4
    color: bool = True
    w_cos: float = 0.5
    w_guide: float = 0.5
    seed: int = 0
    max_style_samples: int = 32768
    split_queries: int = 2048
    split_style_samples: int = 4096
    backbone: str = "vgg16-hed"
    weights: str | None = None
    precision: str = "auto"
    chunk: int = 2048
    color_radius: int = 4
    #: ``"opt"`` (NNST-Opt) or ``"decoder"`` (NNST-D, :mod:`.nnst_decoder`): with a decoder, ``decoder``
    #: names its checkpoint (``None``: looked up) and ``feedback`` counts the final-scale passes that
    #: feed the output back as content; the optimisation fields are then unused.
    method: str = "opt"
    decoder: str | None = None
    feedback: int = 2

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.alpha <= 1.0, "alpha must be between 0 and 1"),
            (1 <= self.scales <= 6, "scales must be 1..6"),
            (self.levels >= self.scales, "levels must be at least scales"),
            (0 <= self.zero_levels < self.levels, "zero_levels must be below levels"),
            (self.lr > 0, "lr must be positive"),
            (self.steps >= 0 and self.split_steps >= 0, "steps must not be negative"),
            (self.w_cos >= 0 and self.w_guide >= 0, "w_cos and w_guide must not be negative"),
            (
                self.max_style_samples >= 1 and self.split_queries >= 1 and self.split_style_samples >= 1,
                "sample counts must be positive",
            ),
            (1 <= self.turns <= 4, "turns must be 1..4"),
            (self.backbone in BACKBONES, f"backbone must be one of {', '.join(BACKBONES)}"),
            (self.precision in ("auto", "fp32", "bf16", "int8"), "precision must be auto, fp32, bf16 or int8"),
            (self.method in ("opt", "decoder") and self.feedback >= 0, "method must be opt or decoder, feedback >= 0"),
            (self.chunk >= 1 and self.color_radius >= 1, "chunk and color_radius must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"{message} (got {self})")


#: Named settings. "fast" takes about an eighth of the paper's steps per scale (24 of 200; 10 splitting
#: steps) with a 2x larger Adam step and half the
#: style samples; the matching is the paper's. A 4x step (so coefficients could travel as far as in
#: the paper) washed sparse styles (pencil on white paper) out to white. See benchmarks/stylize.py
#: for time and quality side by side.
PRESETS: dict[str, StylizeParams] = {
    "paper": StylizeParams(),
    "fast": StylizeParams(steps=24, split_steps=10, lr=4e-3, max_style_samples=16384),
    # NNST-D: 4,096 style samples, and no feedback pass: with the bundled decoder it cost 6 CPU s at
    # 512 px and lowered both quality figures. Its products' precision is measured like every other
    # (int8 was 3x faster than fp32 on a VNNI CPU and 175x slower on one without)
    "decoder": StylizeParams(method="decoder", feedback=0, max_style_samples=4096, turns=2),
}


# ------------------------------------------------------------------------------------------ the method
def stylize(
    content: torch.Tensor,
    style: torch.Tensor,
    params: StylizeParams = StylizeParams(),
    *,
    content_guide: torch.Tensor | None = None,
    style_guide: torch.Tensor | None = None,
    progress: Progress = silent,
) -> torch.Tensor:
    """Render ``content`` in the style of ``style`` (NNST-Opt).

    Args:
        content: ``(1, 3, H, W)`` RGB in [0, 1]; the output has its size.
        style: ``(1, 3, Hs, Ws)`` RGB in [0, 1] (any size; the authors use the content's longer side).
        params: see :class:`StylizeParams` (and :data:`PRESETS`).
        content_guide, style_guide: optional label images ``(1, 3, H, W)`` / ``(1, 3, Hs, Ws)`` in
            [0, 1], both or neither: regions of one colour take their style from the same colour.
        progress: one bar per scale.

    Returns:
        ``(1, 3, H, W)`` float32 RGB in [0, 1]; identical for identical inputs and ``params.seed``.
    """
    check_image(content, "content", min_side=16)
    check_image(style, "style", min_side=16)
    if (content_guide is None) != (style_guide is None):
        raise InputError("give both a content guide and a style guide, or neither")
    if content_guide is not None:
        check_image(content_guide, "content guide", min_side=16)
        check_image(style_guide, "style guide", min_side=16)
        content_guide = F.interpolate(content_guide.float(), size=content.shape[-2:], mode="area")
        style_guide = F.interpolate(style_guide.float(), size=style.shape[-2:], mode="area")
    if params.method == "decoder":
        from .nnst_decoder import load_decoder, stylize_decoder  # it builds on this module

        return stylize_decoder(
            content.float().detach(),
            style.float().detach(),
            params,
            decoder=load_decoder(params.decoder, device=content.device),
            content_guide=content_guide,
            style_guide=style_guide,
            progress=progress,
        )
    # everything runs on the content's device; random choices come from a CPU generator, so one seed
    # gives the same style samples and splitting grids on every device
    device = content.device
    extractor = extractor_for(
        get_backbone(params.backbone, params.weights, device=device), params.precision, "conv-train"
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
        style_s = pyramid.collapse(s_pyr[s:])
        with torch.no_grad():
            if i == 0:
                query = content_s  # nothing to mix with yet
            else:
                previous = pyramid.collapse([c_pyr[s]] + out[s + 1 :])  # content's band at this scale
                query = params.alpha * previous + (1.0 - params.alpha) * content_s
            styles = style_samples(
                extractor,
                style_s,
                rotations=params.rotations,
                turns=params.turns,
                max_samples=params.max_style_samples,
                generator=generator,
                guide=pyramid.collapse(g_pyr[s:]).clamp(0, 1) if g_pyr else None,
            )
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
    if params.color:
        radius = max(1, round(params.color_radius * max(content.shape[-2:]) / 512))
        # OpenCV's guided filter and colour conversions: once per run, on the CPU
        result = color.postprocess(result.cpu(), content.cpu(), style.cpu(), radius=radius).to(device)
    return result


def preset(name: str, **overrides: object) -> StylizeParams:
    """A named preset of :data:`PRESETS` with some fields replaced."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


__all__ = [
    "LAYERS",
    "BACKBONES",
    "HYPER_STRIDE",
    "StylizeParams",
    "PRESETS",
    "preset",
    "Extractor",
    "StyleSet",
    "style_samples",
    "nearest_targets",
    "stylize",
]
