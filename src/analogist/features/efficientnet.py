"""EfficientNet-Lite0 (ImageNet) as a feature pyramid, from an EfficientNet-PyTorch style checkpoint.

Lite variants drop squeeze-and-excitation, use ReLU6 and keep the stem and head fixed in width; the
TensorFlow original pads "same" (asymmetrically for stride 2), which is reproduced here because the
weights were trained that way. Stage names follow the paper's table: ``stem``, ``stage1`` ...
``stage7``, ``head``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone, LayerInfo

#: (repeats, kernel, stride, expand ratio, in, out) per stage: EfficientNet-B0's table, which Lite0 keeps.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPS = 1e-3
#: Lite models were trained on (x - 127) / 128 of 0..255 pixels.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
DEFAULT_LAYERS = ("stage1", "stage2", "stage3", "stage5", "stage7")


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding, computed from the input size at run time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (attribute names match the checkpoint)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class Stem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)))


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn1(self._conv_head(x)))


def lite0_ops() -> tuple[OrderedDict[str, nn.Module], dict[str, LayerInfo], dict[str, str]]:
    """Operations, layer table and checkpoint-key prefixes (``_blocks.{i}.`` to ``ops.stage{s}.{j}.``)."""
    ops: OrderedDict[str, nn.Module] = OrderedDict(stem=Stem())
    info = {"stem": LayerInfo("stem", 32, 2)}
    prefixes = {
        "_conv_stem.": "ops.stem._conv_stem.",
        "_bn0.": "ops.stem._bn0.",
        "_conv_head.": "ops.head._conv_head.",
        "_bn1.": "ops.head._bn1.",
    }
    stride, block = 2, 0
    for s, (reps, k, st, e, cin, cout) in enumerate(LITE0_STAGES, start=1):
        blocks = []
        for j in range(reps):
            blocks.append(MBConv(cin if j == 0 else cout, cout, k, st if j == 0 else 1, e))
            prefixes[f"_blocks.{block}."] = f"ops.stage{s}.{j}."
            block += 1
        stride *= st
        ops[f"stage{s}"] = nn.Sequential(*blocks)
        info[f"stage{s}"] = LayerInfo(f"stage{s}", cout, stride)
    ops["head"] = Head()
    info["head"] = LayerInfo("head", 1280, stride)
    return ops, info, prefixes


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 feature pyramid, plus the ImageNet classifier for checking the weights."""

    def __init__(self, state: Mapping[str, torch.Tensor] | None, *, source: str = "") -> None:
        ops, info, prefixes = lite0_ops()
        super().__init__(
            "efficientnet-lite0", ops, info, mean=LITE_MEAN, std=LITE_STD, default_layers=DEFAULT_LAYERS, source=source
        )
        self._fc = nn.Linear(1280, 1000)
        if state is not None:
            self.load_checkpoint(state, prefixes)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def load_checkpoint(self, state: Mapping[str, torch.Tensor], prefixes: Mapping[str, str]) -> None:
        # longest prefix first, so that "_blocks.1." never captures "_blocks.10."
        order = sorted(prefixes, key=len, reverse=True)
        mapped = {}
        for key, value in state.items():
            if key.endswith("num_batches_tracked"):
                continue
            if key.startswith("_fc."):
                mapped[key] = value
                continue
            prefix = next((p for p in order if key.startswith(p)), None)
            if prefix is None:
                raise ValueError(f"unexpected key {key!r} in EfficientNet-Lite0 checkpoint")
            mapped[prefixes[prefix] + key[len(prefix) :]] = value
        own = {k for k in self.state_dict() if not k.endswith("num_batches_tracked")}
        missing = own - set(mapped)
        if missing:
            raise ValueError(f"EfficientNet-Lite0 checkpoint lacks {len(missing)} tensors, e.g. {sorted(missing)[0]}")
        self.load_state_dict(mapped, strict=False)

    @torch.no_grad()
    def classify(self, image: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, 1000)`` for RGB ``(B, 3, H, W)`` in [0, 1] (224 px is the trained size)."""
        head = self.forward(image, ["head"])["head"]
        return self._fc(head.mean(dim=(2, 3)))
