"""The backbone abstraction: a chain of named operations whose outputs form a feature pyramid.

A backbone is a plain sequence of modules ``ops[0], ops[1], ...``; the output of ``ops[i]`` is the
feature map called ``names[i]``. That one table gives everything the methods need: a pyramid of any
subset of layers (running the network only as deep as the deepest requested layer), the stride and
channel count of each layer, and the sub-network between two layers (which Deep Image Analogy
deconvolves through and hybrids invert through).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InputError

INPUT = "input"  #: name of the preprocessed network input, usable as the start of a sub-network


@dataclass(frozen=True)
class LayerInfo:
    """Static facts about one named feature map."""

    name: str
    channels: int
    stride: int


class Backbone(nn.Module):
    """A frozen feature extractor made of named, chained operations.

    Args:
        name: registry name, e.g. ``"vgg16-hed"``.
        ops: the operations in order; ``ops[name]`` maps the previous output to feature map ``name``.
            Empty for a backbone that overrides :meth:`forward` (a transformer, whose chained state
            is tokens rather than maps).
        info: channels and stride of every named output, shallow to deep.
        mean, std: per-channel input normalisation applied to RGB in [0, 1] (after ``scale``).
        bgr: feed channels as BGR (Caffe/Keras-converted weights).
        scale: multiply the [0, 1] image by this before normalising (255 for Caffe-style weights).
        default_layers: the pyramid a method gets when it does not ask for specific layers.
        source: where the weights came from (shown by ``analogist info``).
    """

    def __init__(
        self,
        name: str,
        ops: Mapping[str, nn.Module],
        info: Mapping[str, LayerInfo],
        *,
        mean: Sequence[float],
        std: Sequence[float],
        bgr: bool = False,
        scale: float = 1.0,
        default_layers: Sequence[str] = (),
        source: str = "",
    ) -> None:
        super().__init__()
        self.name = name
        self.ops = nn.ModuleDict(ops)
        self.names: tuple[str, ...] = tuple(ops.keys()) if ops else tuple(info.keys())
        self.info: dict[str, LayerInfo] = dict(info)
        self.bgr = bgr
        self.scale = scale
        self.default_layers = tuple(default_layers)
        self.source = source
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    # ------------------------------------------------------------------------------------ metadata
    def _index(self, layer: str) -> int:
        if layer == INPUT:
            return -1
        try:
            return self.names.index(layer)
        except ValueError:
            raise InputError(f"backbone {self.name} has no layer {layer!r}; layers: {', '.join(self.names)}") from None

    def stride(self, layer: str) -> int:
        """Downsampling factor of ``layer`` relative to the input image."""
        return 1 if layer == INPUT else self.info[layer].stride

    def channels(self, layer: str) -> int:
        return 3 if layer == INPUT else self.info[layer].channels

    def check_layer(self, layer: str) -> str:
        """``layer`` itself, or :class:`~analogist.errors.InputError` naming the layers there are."""
        self._index(layer)
        return layer

    def check_layers(self, layers: Sequence[str]) -> list[str]:
        """Return ``layers`` ordered shallow to deep, raising :class:`~analogist.errors.InputError` for
        unknown names."""
        return sorted(set(layers), key=self._index)

    # ------------------------------------------------------------------------------------- compute
    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB ``(B, 3, H, W)`` in [0, 1] to the network's input convention."""
        x = image * self.scale
        if self.bgr:
            x = x.flip(1)
        return (x - self.mean) / self.std

    def deprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`preprocess` (not clamped)."""
        x = x * self.std + self.mean
        if self.bgr:
            x = x.flip(1)
        return x / self.scale

    def forward(
        self, image: torch.Tensor, layers: Sequence[str] | None = None, *, preprocessed: bool = False
    ) -> dict[str, torch.Tensor]:
        """Feature pyramid of an image.

        Args:
            image: ``(B, 3, H, W)`` RGB in [0, 1] (or already preprocessed with ``preprocessed=True``).
            layers: names to return; default :attr:`default_layers`. The network runs only as deep
                as the deepest one.

        Returns:
            ``{name: (B, C_name, ceil(H / stride_name), ceil(W / stride_name))}`` (floor for
            torchvision-style pooling). Gradients flow only if the input requires them.
        """
        wanted = self.check_layers(layers or self.default_layers)
        x = image if preprocessed else self.preprocess(image)
        out: dict[str, torch.Tensor] = {}
        if INPUT in wanted:
            out[INPUT] = x
        last = max(self._index(n) for n in wanted)
        for i in range(last + 1):
            name = self.names[i]
            x = self.ops[name](x)
            if name in wanted:
                out[name] = x
        return out

    @torch.no_grad()
    def extract(self, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """:meth:`forward` without autograd: the usual way to get features for matching."""
        return self.forward(image, layers)

    def subnet(self, start: str, end: str) -> nn.Sequential:
        """The operations that map feature map ``start`` to feature map ``end``.

        ``start`` may be :data:`INPUT` (the preprocessed image). ``subnet(a, b)(features[a])``
        equals ``features[b]``.
        """
        i, j = self._index(start), self._index(end)
        if j <= i:
            raise ValueError(f"{end!r} is not deeper than {start!r} in backbone {self.name}")
        return nn.Sequential(*[self.ops[n] for n in self.names[i + 1 : j + 1]])

    def previous(self, layer: str, among: Sequence[str]) -> str:
        """The deepest layer of ``among`` that is shallower than ``layer`` (or :data:`INPUT`)."""
        i = self._index(layer)
        shallower = [n for n in among if self._index(n) < i]
        return max(shallower, key=self._index) if shallower else INPUT
