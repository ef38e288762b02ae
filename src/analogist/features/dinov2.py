"""DINOv2 ViT-S/14, B/14 and L/14 as feature pyramids, loading the official checkpoints.

The architecture is the one of the official ``facebookresearch/dinov2`` hub models (``img_size=518``,
``patch_size=14``, LayerScale with ``init_values=1.0``, MLP feed-forward, no register tokens), written
with plain torch so that no hub code is imported. Module and parameter names equal the official ones,
so ``dinov2_vit{s,b,l}14_pretrain.pth`` loads strictly (``mask_token``, used only in training, may be
present or not).

Named layers, all ``(B, C, ceil(H / 14), ceil(W / 14))`` maps of the patch tokens (the class token
is dropped): ``key{i}``, the attention keys of block ``i`` (all heads, ``C`` channels); ``block{i}``,
the output of block ``i``; ``tokens``, the final normed tokens (DINOv2's usual descriptor). An image
whose sides are not multiples of 14 is padded at the bottom and right by repeating its edge pixels.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .base import INPUT, Backbone, LayerInfo

PATCH = 14
#: Position embeddings were trained for 518-px inputs: a 37 x 37 grid of patches.
TRAIN_GRID = 37
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LN_EPS = 1e-6


@dataclass(frozen=True)
class ViTConfig:
    dim: int
    depth: int
    heads: int


#: registry name -> architecture (official ``vit_small`` / ``vit_base`` / ``vit_large``)
CONFIGS = {
    "dinov2-s": ViTConfig(384, 12, 6),
    "dinov2-b": ViTConfig(768, 12, 12),
    "dinov2-l": ViTConfig(1024, 24, 16),
}


class PatchEmbed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, PATCH, stride=PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, h*w, D), rows first


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, N, D)`` to the attention output and the keys ``(B, N, D)``."""
        b, n, d = x.shape
        qkv = self.qkv(x)
        q, k, v = qkv.reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # the official softmax(q k^T / sqrt(d_head)) v, without materialising the N x N matrix where
        # the backend has a fused kernel
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out), qkv[..., d : 2 * d]


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``(B, N, D)`` to the block's output tokens and its attention keys."""
        attn, keys = self.attn(self.norm1(x))
        x = x + self.ls1(attn)
        return x + self.ls2(self.mlp(self.norm2(x))), keys


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Position embeddings ``(1, 1 + M*M, D)`` trained on an ``M x M`` grid, for an ``(h, w)`` grid.

    As the official code: unchanged on the training grid, otherwise the patch embeddings are resized
    bicubically (in float32, with the official scale factor ``(h + 0.1) / M``, which sets the
    sampling positions) and the class embedding kept. Returns ``(1, 1 + h*w, D)``.
    """
    n = pos_embed.shape[1] - 1
    m = math.isqrt(n)
    if m * m != n:
        raise ValueError(f"position embeddings of {n} patches are not a square grid")
    h, w = grid
    if (h, w) == (m, m):
        return pos_embed
    dim = pos_embed.shape[-1]
    patch = pos_embed[:, 1:].float().reshape(1, m, m, dim).permute(0, 3, 1, 2)
    patch = F.interpolate(patch, scale_factor=((h + 0.1) / m, (w + 0.1) / m), mode="bicubic")
    if patch.shape[-2:] != (h, w):  # the 0.1 offset makes the floor land on (h, w); never by much off
        patch = F.interpolate(patch, size=(h, w), mode="bicubic")
    patch = patch.permute(0, 2, 3, 1).reshape(1, h * w, dim)
    return torch.cat([pos_embed[:, :1].float(), patch], dim=1).to(pos_embed.dtype)


class VisionTransformer(nn.Module):
    """The official DINOv2 ViT's modules and parameters, named as in its checkpoints."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + TRAIN_GRID * TRAIN_GRID, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=LN_EPS)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``(B, 3, 14h, 14w)`` to tokens ``(B, 1 + h*w, D)``, class token first."""
        grid = (x.shape[-2] // PATCH, x.shape[-1] // PATCH)
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1).to(t.dtype), t], dim=1)
        return t + interpolate_pos_embed(self.pos_embed, grid).to(t.dtype)


def layer_names(depth: int) -> list[str]:
    """Shallow to deep: ``key0, block0, key1, block1, ..., block{depth-1}, tokens``."""
    return [n for i in range(depth) for n in (f"key{i}", f"block{i}")] + ["tokens"]


def check_state(state: Mapping[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The checkpoint without its training-only ``mask_token``; refuses other variants by name."""
    if "register_tokens" in state:
        raise ValueError(f"{name}: a checkpoint with register tokens (the *_reg4 models) is not supported")
    return {k: v for k, v in state.items() if k != "mask_token"}


class DINOv2(Backbone):
    """A DINOv2 ViT/14 whose patch tokens and attention keys of every block are named layers.

    Args:
        name: ``dinov2-s``, ``dinov2-b`` or ``dinov2-l``.
        state: an official ``dinov2_vit*14_pretrain.pth`` state dict, loaded strictly.
        source: where the weights came from.
    """

    def __init__(self, name: str, state: Mapping[str, torch.Tensor], *, source: str = "") -> None:
        cfg = CONFIGS[name]
        info = OrderedDict((n, LayerInfo(n, cfg.dim, PATCH)) for n in layer_names(cfg.depth))
        super().__init__(
            name, {}, info, mean=IMAGENET_MEAN, std=IMAGENET_STD, default_layers=("tokens",), source=source
        )
        with torch.device("meta"):  # no random initialisation of weights about to be replaced
            vit = VisionTransformer(cfg)
        vit.load_state_dict(check_state(state, name), strict=True, assign=True)
        self.vit = vit.eval()
        for p in self.vit.parameters():
            p.requires_grad_(False)

    def forward(
        self, image: torch.Tensor, layers: Sequence[str] | None = None, *, preprocessed: bool = False
    ) -> dict[str, torch.Tensor]:
        """Feature maps ``{name: (B, C, ceil(H / 14), ceil(W / 14))}`` of RGB ``(B, 3, H, W)`` in [0, 1].

        The transformer runs only up to the deepest requested block.
        """
        wanted = self.check_layers(layers or self.default_layers)
        x = image if preprocessed else self.preprocess(image)
        out: dict[str, torch.Tensor] = {INPUT: x} if INPUT in wanted else {}
        last = max(self._index(n) for n in wanted)
        if last < 0:
            return out
        b, _, hh, ww = x.shape
        h, w = -(-hh // PATCH), -(-ww // PATCH)
        if (h * PATCH, w * PATCH) != (hh, ww):
            x = F.pad(x, (0, w * PATCH - ww, 0, h * PATCH - hh), mode="replicate")

        def as_map(t: torch.Tensor) -> torch.Tensor:
            return t[:, 1:].reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous()

        t = self.vit.embed(x)
        for i, block in enumerate(self.vit.blocks):
            if self._index(f"key{i}") > last:
                break
            t, keys = block(t)
            for layer, value in ((f"key{i}", keys), (f"block{i}", t)):
                if layer in wanted:
                    out[layer] = as_map(value)
        if "tokens" in wanted:
            out["tokens"] = as_map(self.vit.norm(t))
        return out

    def subnet(self, start: str, end: str) -> nn.Sequential:
        raise InputError(
            f"backbone {self.name} is a transformer whose feature maps cannot be inverted "
            "layer by layer; use a VGG or EfficientNet backbone for this method"
        )
