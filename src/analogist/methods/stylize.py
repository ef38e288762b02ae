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

Speed on a CPU comes from running the network and the matching products in bfloat16 where the CPU has
AMX tiles (``precision="auto"``), from an optimisation step whose only large costs are the network's
convolutions (the hypercolumn is read off the channels-last maps without copying them, its gradient
added in place, and Eq. 8 has a closed-form backward pass), from caching the style features per scale,
and from bounding the number of style samples and splitting-phase queries (seeded subsampling, see
:class:`StylizeParams`). At 512 px the paper's settings make about 400 forward and backward passes of
VGG16 at full resolution, some 60 TMAC, which is the bulk of their time on a CPU.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..features import Backbone, get_backbone
from ..io import check_image
from ..matching.hypercolumn import Keys, flatten, grid_rows, hypercolumns, match, tap_rows
from ..progress import Progress, silent
from ..synthesis import color, pyramid
from ..synthesis.hyperopt import optimise_pyramid

#: The layers whose hypercolumns NNST matches: every conv of VGG16 up to block 4 (the authors drop
#: block 5 for speed "without hurting quality").
LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1", "relu4_2", "relu4_3")
#: Backbones with that VGG16 structure (2688 channels over :data:`LAYERS`).
BACKBONES = ("vgg16-hed", "vgg16")
#: Hypercolumns live at this fraction of the image resolution (the relu3 stride).
HYPER_STRIDE = 4


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
        precision: ``"fp32"``, ``"bf16"`` (network and matching products in bfloat16) or ``"auto"``
            (bf16 where the CPU has AMX tiles, else fp32).
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
            (self.backbone in BACKBONES, f"backbone must be one of {', '.join(BACKBONES)}"),
            (self.precision in ("auto", "fp32", "bf16"), "precision must be auto, fp32 or bf16"),
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
    # NNST-D: one feedback pass and 4,096 style samples, because the fp32 matching at 512 px is most of its time
    "decoder": StylizeParams(method="decoder", feedback=1, max_style_samples=4096),
}


# ------------------------------------------------------------------------------------------- features
def _use_bf16(precision: str) -> bool:
    if precision != "auto":
        return precision == "bf16"
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())


_NETS: dict[tuple[str, str, bool], nn.ModuleDict] = {}
_NETS_LOCK = threading.Lock()


class Extractor:
    """The VGG16 layers of :data:`LAYERS` as a function of an RGB image, in fp32 or bfloat16.

    The bfloat16 copy (channels-last, which oneDNN runs on AMX) is made once per backbone and kept.
    """

    def __init__(self, backbone: Backbone, bf16: bool) -> None:
        missing = [n for n in LAYERS if n not in backbone.names]
        if missing or sum(backbone.channels(n) for n in LAYERS) != 2688:
            raise InputError(f"backbone {backbone.name} does not have the VGG16 layers NNST needs")
        self.backbone, self.bf16 = backbone, bf16
        self.names = backbone.names[: backbone.names.index(LAYERS[-1]) + 1]
        self.channels = [backbone.channels(n) for n in LAYERS]
        key = (backbone.name, backbone.source, bf16)
        with _NETS_LOCK:
            if key not in _NETS:
                ops = nn.ModuleDict({n: backbone.ops[n] for n in self.names})
                if bf16:
                    ops = copy.deepcopy(ops).to(torch.bfloat16).to(memory_format=torch.channels_last)
                _NETS[key] = ops
        self.ops = _NETS[key]

    def _input(self, image: torch.Tensor) -> torch.Tensor:
        x = self.backbone.preprocess(image)
        if self.bf16:
            x = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        return x

    def layers(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``[(1, C_l, h_l, w_l) for l in LAYERS]`` of RGB ``(1, 3, H, W)``; differentiable."""
        x = self._input(image)
        out = []
        for name in self.names:
            x = self.ops[name](x)
            if name in LAYERS:
                out.append(x)
        return out

    def hyper(self, image: torch.Tensor) -> torch.Tensor:
        """Hypercolumns ``(1, 2688, ceil(H/4), ceil(W/4))`` float32 of RGB ``(1, 3, H, W)``."""
        return hypercolumns(self.layers(image), _grid_size(image))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the network and of :meth:`rows`."""
        return torch.bfloat16 if self.bf16 else torch.float32

    def rows(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The hypercolumn of ``(1, 3, H, W)`` split by layer as rows: ``[(h*w, C_l)]`` in :attr:`dtype`.

        Not divided by the channel counts (the losses fold them in). This is the differentiable path
        of the optimisation: rows along contiguous channels-last memory, in the network's dtype, keep
        the per-step cost close to the convolutions' (reducing 2688 channels of an NCHW map along
        dim 1, or casting full-size maps to float32, cost more than the network).
        """
        size = _grid_size(image)
        x = self._input(image)
        out = []
        for name in self.names:
            x = self.ops[name](x)
            if name == LAYERS[-1]:
                out.append(grid_rows(x, size))
            elif name in LAYERS:
                x, rows = tap_rows(x, size)
                out.append(rows)
        return out


def _grid_size(image: torch.Tensor) -> tuple[int, int]:
    h, w = image.shape[-2:]
    return math.ceil(h / HYPER_STRIDE), math.ceil(w / HYPER_STRIDE)


def _guide_at(guide: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Guide image ``(1, 3, H, W)`` resized to ``size`` by area averaging, as ``(3, h*w)``."""
    return flatten(F.interpolate(guide.float(), size=size, mode="area"))


def _subsample(n: int, keep: int, generator: torch.Generator) -> torch.Tensor | None:
    """Sorted seeded random subset of ``range(n)`` of size ``keep``, or ``None`` if ``n <= keep``."""
    if n <= keep:
        return None
    return torch.randperm(n, generator=generator)[:keep].sort().values


@dataclass(frozen=True)
class StyleSet:
    """Style hypercolumns as samples: ``feats`` ``(C, N)`` float32 and their ``guide`` ``(3, N)`` or None."""

    feats: torch.Tensor
    guide: torch.Tensor | None


@torch.no_grad()
def style_samples(
    extractor: Extractor,
    style: torch.Tensor,
    *,
    rotations: bool,
    max_samples: int,
    generator: torch.Generator,
    guide: torch.Tensor | None = None,
) -> StyleSet:
    """Hypercolumns of ``style`` ``(1, 3, Hs, Ws)`` (and of its three rotations) as ``(2688, N)``.

    Above ``max_samples`` a seeded random subset is kept. ``guide`` ``(1, 3, Hs, Ws)`` is rotated
    and sampled alongside.
    """
    feats, guides = [], []
    for k in range(4 if rotations else 1):
        image = torch.rot90(style, k, dims=(2, 3))
        feats.append(flatten(extractor.hyper(image)))
        if guide is not None:
            guides.append(_guide_at(torch.rot90(guide, k, dims=(2, 3)), _grid_size(image)))
    all_feats = torch.cat(feats, dim=1)
    all_guides = torch.cat(guides, dim=1) if guide is not None else None
    keep = _subsample(all_feats.shape[1], max_samples, generator)
    if keep is not None:
        all_feats = all_feats.index_select(1, keep)
        all_guides = all_guides.index_select(1, keep) if all_guides is not None else None
    return StyleSet(all_feats.contiguous(), all_guides)


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


# ---------------------------------------------------------------------------------------- optimisation
def _optimise(
    bands: list[torch.Tensor],
    target: torch.Tensor,
    extractor: Extractor,
    params: StylizeParams,
    steps: int,
    progress: Progress,
    desc: str,
) -> list[torch.Tensor]:
    """Adam on pyramid ``bands`` (finest first) so the collapsed image's hypercolumns point at ``target``."""
    return optimise_pyramid(bands, target, extractor, lr=params.lr, steps=steps, progress=progress, desc=desc)


def _split_phase(
    bands: list[torch.Tensor],
    style: StyleSet,
    extractor: Extractor,
    params: StylizeParams,
    content_guide: torch.Tensor | None,
    generator: torch.Generator,
    progress: Progress,
    desc: str,
) -> list[torch.Tensor]:
    """Final phase: every layer matched separately against the current output after each update."""
    dtype = extractor.dtype
    keep = _subsample(style.feats.shape[1], params.split_style_samples, generator)
    feats = style.feats if keep is None else style.feats.index_select(1, keep)
    guide = style.guide if keep is None or style.guide is None else style.guide.index_select(1, keep)
    bounds = torch.tensor([0, *extractor.channels]).cumsum(0).tolist()
    slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    layer_feats = [feats[s] for s in slices]
    layer_keys = [Keys.build(f, guide, dtype=dtype) for f in layer_feats]
    layer_units = [F.normalize(f, dim=0).T.contiguous() for f in layer_feats]  # (N, C_l) targets

    variables = [b.detach().clone().requires_grad_(True) for b in bands]
    opt = torch.optim.Adam(variables, lr=params.lr)
    h, w = _grid_size(pyramid.collapse(bands))
    stride = max(1, math.ceil(math.sqrt(h * w / params.split_queries)))
    for _ in progress(range(params.split_steps), total=params.split_steps, desc=desc):
        oy, ox = torch.randint(stride, (2,), generator=generator).tolist()
        pos = (torch.arange(h)[oy::stride, None] * w + torch.arange(w)[None, ox::stride]).reshape(-1)
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
            decoder=load_decoder(params.decoder),
            content_guide=content_guide,
            style_guide=style_guide,
            progress=progress,
        )
    extractor = Extractor(get_backbone(params.backbone, params.weights), _use_bf16(params.precision))
    generator = torch.Generator().manual_seed(params.seed)
    content, style = content.float().detach(), style.float().detach()

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
                max_samples=params.max_style_samples,
                generator=generator,
                guide=pyramid.collapse(g_pyr[s:]).clamp(0, 1) if g_pyr else None,
            )
            keys = Keys.build(styles.feats, styles.guide, dtype=extractor.dtype)
            qf = extractor.hyper(query)
            qguide = _guide_at(content_guide, qf.shape[-2:]) if content_guide is not None else None
            target = nearest_targets(qf, styles, keys, query_guide=qguide, params=params)
            del keys
        h, w = content_s.shape[-2:]
        out[s:] = _optimise(
            out[s:], target, extractor, params, params.steps, progress, f"scale {i + 1}/{params.scales} {w}x{h}"
        )

    if params.split_steps:
        qguide = _guide_at(content_guide, _grid_size(content)) if content_guide is not None else None
        out = _split_phase(
            out,
            styles,
            extractor,
            params,
            qguide,
            generator,
            progress,
            f"splitting {content.shape[-1]}x{content.shape[-2]}",
        )

    with torch.no_grad():
        result = pyramid.collapse(out).clamp(0.0, 1.0)
    if params.color:
        radius = max(1, round(params.color_radius * max(content.shape[-2:]) / 512))
        result = color.postprocess(result, content, style, radius=radius)
    return result


def preset(name: str, **overrides: object) -> StylizeParams:
    """A named preset of :data:`PRESETS` with some fields replaced."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


__all__ = [
    "LAYERS",
    "BACKBONES",
    "StylizeParams",
    "PRESETS",
    "preset",
    "Extractor",
    "StyleSet",
    "style_samples",
    "nearest_targets",
    "stylize",
]
