"""VGG16/VGG19 feature pyramids from torchvision checkpoints or the HED Keras weights.

Layer names follow the papers: ``conv{b}_{i}``, ``relu{b}_{i}`` and ``pool{b}``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .base import Backbone, LayerInfo

#: convolutions per block
VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
VGG_WIDTHS = (64, 128, 256, 512, 512)
DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Caffe VGG mean in BGR order, on the 0..255 scale (the HED weights expect BGR minus this).
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)


def vgg_ops(arch: str, *, ceil_pool: bool) -> tuple[OrderedDict[str, nn.Module], dict[str, LayerInfo]]:
    """Uninitialised VGG operations up to ``relu5_{last}`` and their layer table.

    ``ceil_pool`` pads odd maps before pooling as Keras/Caffe "same" pooling does; torchvision
    floors instead.
    """
    ops: OrderedDict[str, nn.Module] = OrderedDict()
    info: dict[str, LayerInfo] = {}
    cin, stride = 3, 1
    for b, (n, width) in enumerate(zip(VGG_BLOCKS[arch], VGG_WIDTHS), start=1):
        if b > 1:
            stride *= 2
            ops[f"pool{b - 1}"] = nn.MaxPool2d(2, 2, ceil_mode=ceil_pool)
            info[f"pool{b - 1}"] = LayerInfo(f"pool{b - 1}", cin, stride)
        for i in range(1, n + 1):
            ops[f"conv{b}_{i}"] = nn.Conv2d(cin, width, 3, padding=1)
            ops[f"relu{b}_{i}"] = nn.ReLU(inplace=False)  # earlier outputs are kept, so never in place
            for kind in ("conv", "relu"):
                info[f"{kind}{b}_{i}"] = LayerInfo(f"{kind}{b}_{i}", width, stride)
            cin = width
    return ops, info


def _convs(ops: Mapping[str, nn.Module]) -> list[nn.Conv2d]:
    return [m for m in ops.values() if isinstance(m, nn.Conv2d)]


def load_torchvision_state(ops: Mapping[str, nn.Module], state: Mapping[str, torch.Tensor]) -> None:
    """Copy a torchvision ``vgg*`` state dict (``features.{k}.weight``) into ``ops``, in order."""
    keys = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")})
    convs = _convs(ops)
    if len(keys) != len(convs):
        raise ValueError(f"state dict has {len(keys)} conv layers in features, expected {len(convs)}")
    for conv, k in zip(convs, keys):
        w, b = state[f"features.{k}.weight"], state[f"features.{k}.bias"]
        if w.shape != conv.weight.shape:
            raise ValueError(f"features.{k}.weight has shape {tuple(w.shape)}, expected {tuple(conv.weight.shape)}")
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(b)


def _keras_conv_names() -> list[tuple[int, str]]:
    names = []
    for b, n in enumerate(VGG_BLOCKS["vgg16"], start=1):
        for i in range(n):
            names.append((b, "conv2d" if i == 0 else f"conv2d_{i}"))
    return names


def load_hed_h5(ops: Mapping[str, nn.Module], path: str | Path) -> dict[str, torch.Tensor]:
    """Copy the VGG16 convolutions of a HED ``.weights.h5`` (Keras 3 layout) into ``ops``.

    Keras kernels are ``(kh, kw, in, out)``; torch wants ``(out, in, kh, kw)``. Returns the HED side
    output weights (``dsn1``..``dsn5``, ``fuse``) as torch tensors for :class:`HEDEdges`.
    """
    import h5py

    with h5py.File(path, "r") as f:
        for conv, (b, lname) in zip(_convs(ops), _keras_conv_names()):
            grp = f[f"block{b}/layers/{lname}/vars"]
            conv.weight.data.copy_(torch.from_numpy(grp["0"][()]).permute(3, 2, 0, 1))
            conv.bias.data.copy_(torch.from_numpy(grp["1"][()]))
        side = {}
        for key in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
            side[f"{key}.weight"] = torch.from_numpy(f[f"{key}/vars/0"][()]).permute(3, 2, 0, 1).contiguous()
            side[f"{key}.bias"] = torch.from_numpy(f[f"{key}/vars/1"][()])
    return side


def build_vgg(arch: str, state: Mapping[str, torch.Tensor] | None, *, source: str = "") -> Backbone:
    """ImageNet VGG from a torchvision state dict (``None`` leaves random weights, for tests)."""
    ops, info = vgg_ops(arch, ceil_pool=False)
    if state is not None:
        load_torchvision_state(ops, state)
    return Backbone(arch, ops, info, mean=IMAGENET_MEAN, std=IMAGENET_STD, default_layers=DEFAULT_LAYERS, source=source)


class HEDEdges(nn.Module):
    """HED's side outputs and fusion on top of ``vgg16-hed`` features: an edge probability map.

    Used to check the HED weights and their preprocessing end to end, and as an edge detector.
    """

    SIDES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

    def __init__(self, side_state: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        widths = (64, 128, 256, 512, 512)
        self.dsn = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in widths)
        self.fuse = nn.Conv2d(5, 1, 1)
        for i, conv in enumerate(self.dsn, start=1):
            conv.weight.data.copy_(side_state[f"dsn{i}.weight"])
            conv.bias.data.copy_(side_state[f"dsn{i}.bias"])
        self.fuse.weight.data.copy_(side_state["fuse.weight"])
        self.fuse.bias.data.copy_(side_state["fuse.bias"])
        for p in self.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, backbone: Backbone, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] to edge probabilities ``(B, 1, H, W)``."""
        h, w = image.shape[-2:]
        feats = backbone.extract(image, self.SIDES)
        sides = [
            nn.functional.interpolate(conv(feats[name]), size=(h, w), mode="bilinear", align_corners=False)
            for conv, name in zip(self.dsn, self.SIDES)
        ]
        return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))


def build_vgg16_hed(path: str | Path) -> tuple[Backbone, HEDEdges]:
    """VGG16 with the HED fine-tuned weights; expects BGR, 0..255, minus the Caffe mean."""
    ops, info = vgg_ops("vgg16", ceil_pool=True)
    side = load_hed_h5(ops, path)
    backbone = Backbone(
        "vgg16-hed",
        ops,
        info,
        mean=CAFFE_MEAN_BGR,
        std=(1.0, 1.0, 1.0),
        bgr=True,
        scale=255.0,
        default_layers=DEFAULT_LAYERS,
        source=str(path),
    )
    return backbone, HEDEdges(side)
