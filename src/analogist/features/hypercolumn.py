"""The VGG16 hypercolumn (relu1_1 ... relu4_3, 2688 channels) NNST and COAT match and optimise on.

The network runs in fp32 or bf16, NCHW or channels-last, whichever :mod:`.precision` measures fastest
on the device; the copies of the network each path needs are made once and kept.

``padding="reflect"`` pads the 3x3 convolutions by reflection instead of VGG16's zeros. A zero border
makes every hypercolumn near the frame unlike any inside it: NNST matched the content's border to the
style's and drew a stripe along each side of its outputs, so NNST asks for reflection. The default
stays the network as trained, which COAT and the matchers use.
"""

from __future__ import annotations

import copy
import math
import threading
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..matching.hypercolumn import grid_rows, hypercolumns, tap_rows
from . import Backbone
from .precision import choose

if TYPE_CHECKING:
    pass


#: The layers whose hypercolumns NNST matches: every conv of VGG16 up to block 4 (the authors drop
#: block 5 for speed "without hurting quality").
LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1", "relu4_2", "relu4_3")


#: Channels of each of :data:`LAYERS` in VGG16: 2688 in all, the hypercolumn's width.
CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512)
#: Backbones with that VGG16 structure.
BACKBONES = ("vgg16-hed", "vgg16")


#: Hypercolumns live at this fraction of the image resolution (the relu3 stride).
HYPER_STRIDE = 4


def extractor_for(backbone: Backbone, precision: str, kind: str = "conv", *, padding: str = "zeros") -> Extractor:
    """The :class:`Extractor` of ``backbone`` on the path ``kind`` (``"conv"``: forward passes only,
    ``"conv-train"``: with backward passes) takes on its device under ``precision`` (``"auto"``:
    measured, see :mod:`analogist.features.precision`), its convolutions padded as ``padding``."""
    path = choose(kind, precision, backbone.mean.device)
    return Extractor(backbone, path.dtype == torch.bfloat16, channels_last=path.channels_last, padding=padding)


#: How the convolutions pad their inputs: ``"zeros"`` (VGG16's own, the default) or ``"reflect"``.
PADDINGS = ("reflect", "zeros")


def reflect_pad(x: torch.Tensor, pad: tuple[int, ...]) -> torch.Tensor:
    """``x`` ``(B, C, H, W)`` padded by ``pad`` (``F.pad``'s order) by reflection, or by replication
    where a side is too short to reflect (reflection needs more pixels than it pads)."""
    mode = "reflect" if min(x.shape[-2:]) > max(pad) else "replicate"
    return F.pad(x, pad, mode=mode)


class ReflectConv2d(nn.Module):
    """A 3x3, stride-1 convolution padded by one reflected pixel on each side (replicated where a
    side has one pixel, which cannot reflect) instead of zeros; the same weights as ``conv``."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.padding != (1, 1) or conv.dilation != (1, 1):
            raise ValueError("ReflectConv2d takes VGG's 3x3 convolutions of padding 1 and stride 1")
        self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(reflect_pad(x, (1, 1, 1, 1)), self.weight, self.bias)


def _padded(ops: nn.ModuleDict) -> nn.ModuleDict:
    """``ops`` with every convolution a :class:`ReflectConv2d` (the weights shared, not copied)."""
    return nn.ModuleDict({n: ReflectConv2d(m) if isinstance(m, nn.Conv2d) else m for n, m in ops.items()})


#: The network copies of :class:`Extractor`, per (backbone, weights, bf16, device, channels-last, padding)
_NETS: dict[tuple[str, str, bool, str, bool, str], nn.ModuleDict] = {}


_NETS_LOCK = threading.Lock()


class Extractor:
    """The VGG16 layers of :data:`LAYERS` as a function of an RGB image, in fp32 or bfloat16.

    The bfloat16 copy (channels-last, the layout oneDNN's and cuDNN's bf16 kernels read) is made once
    per backbone and device, and kept. The network runs on the backbone's device. ``channels_last``
    asks for that layout in float32 too (a copy made and kept the same way), and rows read off it need
    no copy. Which of these is fastest depends on the CPU: :func:`extractor_for` measures it.
    ``padding`` (:data:`PADDINGS`): ``"zeros"``, the network exactly as trained, or ``"reflect"``,
    which removes its zero border (see the module's note).
    """

    def __init__(self, backbone: Backbone, bf16: bool, *, channels_last: bool = False, padding: str = "zeros") -> None:
        missing = [n for n in LAYERS if n not in backbone.names]
        if missing or tuple(backbone.channels(n) for n in LAYERS) != CHANNELS:
            raise InputError(f"backbone {backbone.name} does not have the VGG16 layers NNST needs")
        if padding not in PADDINGS:
            raise InputError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        self.backbone, self.bf16, self.channels_last = backbone, bf16, bf16 or channels_last
        self.padding = padding
        self.names = backbone.names[: backbone.names.index(LAYERS[-1]) + 1]
        self.channels = [backbone.channels(n) for n in LAYERS]
        self.device = backbone.mean.device
        key = (backbone.name, backbone.source, bf16, str(self.device), self.channels_last, padding)
        with _NETS_LOCK:
            if key not in _NETS:
                ops = nn.ModuleDict({n: backbone.ops[n] for n in self.names})
                if self.channels_last:
                    ops = copy.deepcopy(ops).to(torch.bfloat16 if bf16 else torch.float32)
                    ops = ops.to(memory_format=torch.channels_last)
                _NETS[key] = _padded(ops) if padding == "reflect" else ops
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


def layer_slices(groups: list[tuple[int, int]] | None = None) -> list[slice]:
    """Channel ranges in the hypercolumn of every layer of :data:`LAYERS`, or of every group of layers
    ``(first, end)`` (indices into :data:`LAYERS`, end exclusive)."""
    bounds = [0]
    for c in CHANNELS:
        bounds.append(bounds[-1] + c)
    groups = [(k, k + 1) for k in range(len(CHANNELS))] if groups is None else groups
    return [slice(bounds[a], bounds[b]) for a, b in groups]


def grid_size(image: torch.Tensor | tuple[int, int]) -> tuple[int, int]:
    """The hypercolumn grid ``(ceil(H / 4), ceil(W / 4))`` of an image ``(..., H, W)`` or of a size ``(H, W)``."""
    h, w = image.shape[-2:] if isinstance(image, torch.Tensor) else image
    return math.ceil(h / HYPER_STRIDE), math.ceil(w / HYPER_STRIDE)
