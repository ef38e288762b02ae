"""NNST's features: the VGG16 hypercolumn extractor (fp32 or bf16, per device), style samples, matching.

Part of :mod:`analogist.methods.stylize` (whose names re-export these); also used by NNST-D and COAT.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..features import Backbone
from ..features.precision import choose
from ..matching.hypercolumn import Keys, flatten, grid_rows, hypercolumns, match, resize_bilinear, tap_rows

if TYPE_CHECKING:
    from .stylize import StylizeParams

#: The layers whose hypercolumns NNST matches: every conv of VGG16 up to block 4 (the authors drop
#: block 5 for speed "without hurting quality").
LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1", "relu4_2", "relu4_3")
#: Backbones with that VGG16 structure (2688 channels over :data:`LAYERS`).
BACKBONES = ("vgg16-hed", "vgg16")
#: Hypercolumns live at this fraction of the image resolution (the relu3 stride).
HYPER_STRIDE = 4


def extractor_for(backbone: Backbone, precision: str, kind: str = "conv") -> Extractor:
    """The :class:`Extractor` of ``backbone`` on the path ``kind`` (``"conv"``: forward passes only,
    ``"conv-train"``: with backward passes) takes on its device under ``precision`` (``"auto"``:
    measured, see :mod:`analogist.features.precision`)."""
    path = choose(kind, precision, backbone.mean.device)
    return Extractor(backbone, path.dtype == torch.bfloat16, channels_last=path.channels_last)


def product_dtype(
    precision: str, device: torch.device | str, allowed: tuple[str, ...] = ("fp32", "bf16", "int8")
) -> torch.dtype:
    """dtype of the nearest-neighbour products on ``device`` under ``precision``, among ``allowed``
    (int8 only where just the argmax is read, :class:`~analogist.matching.hypercolumn.Keys`)."""
    return choose("product", precision, device, allowed=allowed).dtype


#: The network copies of :class:`Extractor`, per (backbone, weights, bf16, device)
_NETS: dict[tuple[str, str, bool, str, bool], nn.ModuleDict] = {}
_NETS_LOCK = threading.Lock()


class Extractor:
    """The VGG16 layers of :data:`LAYERS` as a function of an RGB image, in fp32 or bfloat16.

    The bfloat16 copy (channels-last, the layout oneDNN's and cuDNN's bf16 kernels read) is made once
    per backbone and device, and kept. The network runs on the backbone's device. ``channels_last``
    asks for that layout in float32 too (a copy made and kept the same way), and rows read off it need
    no copy. Which of these is fastest depends on the CPU: :func:`extractor_for` measures it.
    """

    def __init__(self, backbone: Backbone, bf16: bool, *, channels_last: bool = False) -> None:
        missing = [n for n in LAYERS if n not in backbone.names]
        if missing or sum(backbone.channels(n) for n in LAYERS) != 2688:
            raise InputError(f"backbone {backbone.name} does not have the VGG16 layers NNST needs")
        self.backbone, self.bf16, self.channels_last = backbone, bf16, bf16 or channels_last
        self.names = backbone.names[: backbone.names.index(LAYERS[-1]) + 1]
        self.channels = [backbone.channels(n) for n in LAYERS]
        self.device = backbone.mean.device
        key = (backbone.name, backbone.source, bf16, str(self.device), self.channels_last)
        with _NETS_LOCK:
            if key not in _NETS:
                ops = nn.ModuleDict({n: backbone.ops[n] for n in self.names})
                if self.channels_last:
                    ops = copy.deepcopy(ops).to(torch.bfloat16 if bf16 else torch.float32)
                    ops = ops.to(memory_format=torch.channels_last)
                _NETS[key] = ops
        self.ops = _NETS[key]

    def _input(self, image: torch.Tensor) -> torch.Tensor:
        x = self.backbone.preprocess(image)
        if self.bf16:
            x = x.to(torch.bfloat16)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
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
        return hypercolumns(self.layers(image), grid_size(image))

    def hyper_rows(self, image: torch.Tensor) -> torch.Tensor:
        """:meth:`hyper` as rows ``(h*w, 2688)`` float32 (the same numbers): the layout the matching
        products read, so queries need no transposed copy (a 512-px match 30 % faster)."""
        size = grid_size(image)
        return torch.cat([grid_rows(f, size).float() / f.shape[1] for f in self.layers(image)], dim=1)

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
        size = grid_size(image)
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


def grid_size(image: torch.Tensor) -> tuple[int, int]:
    h, w = image.shape[-2:]
    return math.ceil(h / HYPER_STRIDE), math.ceil(w / HYPER_STRIDE)


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
    return StyleSet(torch.cat(feats, dim=1).contiguous(), all_guides)


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
