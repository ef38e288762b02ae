"""The NNST-D decoder: a target hypercolumn to an image, through a 4-level Laplacian pyramid.

Kolkin et al. 2022, section 3.3. The input is a hypercolumn ``T`` ``(B, 2688, h, w)`` at a quarter of
the output resolution (VGG16 relu1_1 ... relu4_3, each layer divided by its channel count). Four
independent branches, one per pyramid level, each run five 3x3 convolutions (leaky ReLU between
them, the last one linear) plus a linear 3x3 convolution straight from the input (the residual
path). The first branch's ``4*4*3`` channels become the full-resolution band and the second's
``2*2*3`` the half-resolution band (sub-pixel rearrangement: the linear convolution before it plays
the transposed convolution's part); the third branch is the quarter-resolution band and the fourth,
bilinearly halved, the low-pass residual. The collapsed pyramid is the image.

Deviation, measured (``benchmarks/stylize.py``): the paper's branches read all 2688 channels with
256 hidden channels, which at 512 px is about 600 GMAC per decode, several seconds on a 2-core CPU
and untrainable here. By default a shared 1x1 convolution first reduces ``T`` to ``reduce``
channels (after a fixed per-layer rescaling to comparable magnitudes), and the branches have
``hidden`` channels; ``reduce=None, hidden=256`` gives the paper's decoder.

The branches' 3x3 convolutions pad by reflection, not with zeros: a zero border drew a stripe along
each side of the output. The bundled checkpoint was trained with zero padding; with reflection its
outputs lose the stripe and keep their colour and texture (``docs/nnst.md``, "Borders").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..features.hypercolumn import CHANNELS, grid_size, reflect_pad
from . import pyramid

#: VGG16 layer widths of the NNST hypercolumn (relu1_1 ... relu4_3).
#: Typical RMS of each layer's block of the hypercolumn (measured on the bundled photos and
#: paintings with the HED VGG16); dividing by it puts every layer near unit size, so the deep layers
#: (100x smaller) are not ignored at the start of training.
LAYER_RMS = (0.55, 1.0, 0.39, 0.2, 0.09, 0.08, 0.05, 0.02, 0.014, 0.006)


@dataclass(frozen=True)
class DecoderConfig:
    """Shape of a decoder (stored in checkpoints). ``reduce=None`` feeds all input channels to the
    branches, as in the paper."""

    in_channels: int = sum(CHANNELS)
    reduce: int | None = 96
    hidden: int = 64
    convs: int = 5
    slope: float = 0.2

    def dict(self) -> dict[str, object]:
        return asdict(self)


class EqualConv2d(nn.Conv2d):
    """A convolution with an equalised learning rate (Karras et al., as the StyleGAN2-style Adam settings
    of the paper, lr 2e-3 and betas (0, 0.99), assume): weights are stored at unit scale and multiplied
    by ``gain / sqrt(fan_in)`` when used, so an Adam step moves every layer's output by a similar amount
    whatever its fan-in (without it the 2688-channel input layer jumps on the first steps).

    ``reflect``: pad by reflection (replication along a side of one pixel) instead of zeros; the
    convolution's ``padding`` says by how much.
    """

    def __init__(
        self, cin: int, cout: int, kernel: int, *, gain: float = 1.0, reflect: bool = False, **kwargs: int
    ) -> None:
        super().__init__(cin, cout, kernel, **kwargs)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.factor = gain / math.sqrt(cin * kernel * kernel)
        self.reflect = reflect and any(p > 0 for p in self._reversed_padding_repeated_twice)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.factor
        if not self.reflect:
            return self._conv_forward(x, w, self.bias)
        x = reflect_pad(x, tuple(self._reversed_padding_repeated_twice))
        return F.conv2d(x, w, self.bias, self.stride, 0, self.dilation, self.groups)


class EqualLinear(nn.Linear):
    """:class:`EqualConv2d`'s rule for a fully connected layer."""

    def __init__(self, cin: int, cout: int, *, gain: float = 1.0) -> None:
        super().__init__(cin, cout)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.factor = gain / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.factor, self.bias)


#: Gain of a layer followed by a leaky ReLU (He initialisation).
LRELU_GAIN = math.sqrt(2.0)


class _Branch(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, convs: int, slope: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            last = i == convs - 1
            layers.append(
                EqualConv2d(
                    cin if i == 0 else hidden,
                    cout if last else hidden,
                    3,
                    padding=1,
                    gain=1.0 if last else LRELU_GAIN,
                    reflect=True,
                )
            )
            if not last:
                layers.append(nn.LeakyReLU(slope))
        self.body = nn.Sequential(*layers)
        self.skip = EqualConv2d(cin, cout, 3, padding=1, reflect=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Decoder(nn.Module):
    """``forward(T (B, C, h, w), size (H, W)) -> (B, 3, H, W)`` with ``h = ceil(H / 4)``, ``w = ceil(W / 4)``."""

    def __init__(self, config: DecoderConfig = DecoderConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        scale = torch.ones(c.in_channels)
        if c.in_channels == sum(CHANNELS):
            scale = torch.cat([torch.full((n,), 1.0 / r) for n, r in zip(CHANNELS, LAYER_RMS)])
        self.register_buffer("scale", scale.view(1, -1, 1, 1), persistent=False)
        self.reduce = EqualConv2d(c.in_channels, c.reduce, 1) if c.reduce else nn.Identity()
        width = c.reduce or c.in_channels
        self.branches = nn.ModuleList(
            _Branch(width, c.hidden, out, c.convs, c.slope) for out in (4 * 4 * 3, 2 * 2 * 3, 3, 3)
        )
        # Start from a flat grey image: the outputs' layers begin at zero (the low-pass at 0.5), so early
        # updates refine an image instead of fighting random noise in every band.
        for branch in self.branches:
            for conv in (branch.body[-1], branch.skip):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        nn.init.constant_(self.branches[3].body[-1].bias, 0.5)

    def bands(self, target: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """The four pyramid levels ``[(B, 3, H_i, W_i)]``, finest first (see :mod:`.pyramid`)."""
        sizes = pyramid.level_sizes(size[0], size[1], 4)
        if tuple(target.shape[-2:]) != sizes[2]:
            raise ValueError(
                f"target grid {tuple(target.shape[-2:])} does not fit an output of {size}: it must be {sizes[2]}"
            )
        return self.embedded_bands(self.embed(target), size)

    def embed(self, target: torch.Tensor) -> torch.Tensor:
        """The branches' input ``(B, reduce, h, w)`` of ``T`` ``(B, C, h, w)``: per-column (1x1), so the
        embedding of a map gathered from some columns is the same gather of their embeddings."""
        return self.reduce(target * self.scale.to(target.dtype))

    def embedded_bands(self, x: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """:meth:`bands` from :meth:`embed`'s output ``x`` ``(B, reduce, h, w)``."""
        sizes = pyramid.level_sizes(size[0], size[1], 4)
        full, half, quarter, low = (b(x) for b in self.branches)
        full = F.pixel_shuffle(full, 4)[..., : sizes[0][0], : sizes[0][1]]
        half = F.pixel_shuffle(half, 2)[..., : sizes[1][0], : sizes[1][1]]
        low = F.interpolate(low, size=sizes[3], mode="bilinear", align_corners=False, antialias=True)
        return [full, half, quarter, low]

    def forward(self, target: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return pyramid.collapse(self.bands(target, size))


def macs(config: DecoderConfig, size: tuple[int, int]) -> float:
    """Multiply-adds of one decode at output ``size`` (for the deviation note and benchmarks)."""
    h, w = grid_size(size)
    cin = config.reduce or config.in_channels
    per_branch = [
        cin * config.hidden + (config.convs - 2) * config.hidden**2 + config.hidden * out + cin * out
        for out in (48, 12, 3, 3)
    ]
    first = config.in_channels * config.reduce if config.reduce else 0
    return h * w * (first + 9 * sum(per_branch))


__all__ = ["DecoderConfig", "Decoder", "EqualConv2d", "EqualLinear", "macs"]
