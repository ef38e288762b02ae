"""COAT's learned form: a trained matcher and a trained decoder instead of the optimisation.

The paper decodes with a StyleGAN generator pretrained on the object class, modulated by an encoder
``E_mod``; no such generator ships here, so the learned form is built around a decoder that trains on
this machine (``analogist train coat``, :mod:`analogist.methods.coat.train`):

- the encoder hierarchy is the frozen VGG16 at relu1_1, relu2_1, relu3_1, relu4_1 (strides 1-8; the
  scales block1-block4 of the training-free form);
- a matcher (a small top-down feature pyramid on those maps, trained with the correspondence
  contrastive loss, Eq. 7) gives the features of ``S_l``; the confident sets and the swap are Eq. 1-3
  on the quarter-resolution grid, carried to the finer maps cell by cell;
- the decoder starts from the coarsest map and, at each scale coarse to fine, modulates its
  normalised activations by a scale and shift predicted from that scale's map (``E_mod``): the first
  ``n`` get the content's maps, the rest the aligned style maps.

A StyleGAN generator is not used, even when one is present: there is no loader for one here.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from ...features import Backbone, get_backbone
from ...io import check_image, resize_longer
from ...matching.mutual import Confident, capped_grid, confident_set, latent_swap, refine
from ...synthesis.pyramid import resize
from ...training import find_checkpoint, resolve_checkpoint
from ...training.checkpoint import load_trained
from .core import recolor
from .correspond import MAX_LEVEL, SCALES
from .params import Alignment, COATParams, COATResult

#: The encoder layers, fine to coarse (one per scale of :data:`analogist.methods.coat.SCALES`).
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CHANNELS = (64, 128, 256, 512)
#: The grid the confident sets are computed on (the hypercolumn grid of the training-free form).
MATCH_STRIDE = 4
#: Most cells of the matching grid (64 x 64: the quarter-resolution grid of a 256-px image).
MAX_CELLS = 4096
#: Checkpoint file name, looked up like every weight file (explicit path, ANALOGIST_COAT_CHECKPOINT,
#: $ANALOGIST_WEIGHTS_DIR, bundled).
CHECKPOINT = "coat-faces.pt"


def encode(backbone: Backbone, image: torch.Tensor) -> list[torch.Tensor]:
    """``[(B, C_l, H/s_l, W/s_l)]`` fine to coarse, compressed by ``log1p`` (HED's Caffe-scaled
    activations reach the thousands)."""
    feats = backbone(image, LAYERS)
    return [torch.log1p(feats[n]) for n in LAYERS]


class Matcher(nn.Module):
    """Top-down pyramid of matching features ``[(B, dims, h_l, w_l)]`` from :func:`encode`'s maps."""

    def __init__(self, dims: int = 64) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Conv2d(c, dims, 1) for c in CHANNELS)
        self.smooth = nn.ModuleList(nn.Conv2d(dims, dims, 3, padding=1) for _ in CHANNELS)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        out: list[torch.Tensor] = [feats[0]] * len(feats)
        top = None
        for k in reversed(range(len(feats))):
            x = self.proj[k](feats[k])
            if top is not None:
                x = x + F.interpolate(top, size=x.shape[-2:], mode="bilinear", align_corners=False)
            top = x
            out[k] = self.smooth[k](x)
        return out


class AppearanceDecoder(nn.Module):
    """Image ``(B, 3, H, W)`` from maps fine to coarse ``[(B, C_l, h_l, w_l)]``; returns it and the
    mean squared modulation (the regulariser)."""

    def __init__(self, widths: tuple[int, ...] = (96, 64, 48, 32)) -> None:
        super().__init__()
        ins = tuple(reversed(CHANNELS))  # coarse to fine
        self.entry = nn.Conv2d(ins[0], widths[0], 3, padding=1)
        self.mod = nn.ModuleList(nn.Conv2d(c, 2 * w, 3, padding=1) for c, w in zip(ins, widths))
        self.body = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w, w, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(w, w, 3, padding=1))
            for w in widths
        )
        self.up = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Conv2d(widths[-1], 3, 1)

    def forward(self, maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        coarse_first = maps[::-1]
        x = F.leaky_relu(self.entry(coarse_first[0]), 0.2)
        reg = x.new_zeros(())
        for k, m in enumerate(coarse_first):
            gamma, beta = self.mod[k](m).chunk(2, dim=1)
            x = F.instance_norm(x) * (1 + gamma) + beta
            reg = reg + (gamma.square().mean() + beta.square().mean()) / len(coarse_first)
            x = F.leaky_relu(x + self.body[k](x), 0.2)
            if k + 1 < len(coarse_first):
                x = F.interpolate(x, size=coarse_first[k + 1].shape[-2:], mode="bilinear", align_corners=False)
                x = F.leaky_relu(self.up[k](x), 0.2)
        return torch.sigmoid(self.out(x)), reg


def _to_grid(f: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    return F.adaptive_avg_pool2d(f, grid) if tuple(f.shape[-2:]) != grid else f


def confident_sets(
    m1: list[torch.Tensor],
    m2: list[torch.Tensor],
    threshold: float,
    *,
    chunk: int = 2048,
    max_cells: int = MAX_CELLS,
) -> tuple[dict[str, Confident], tuple[int, int], tuple[int, int]]:
    """Eq. 1-2 per scale on the matching grid (features of finer maps averaged onto it), for one image
    pair (batch 1): ``({scale: confident set}, grid_1, grid_2)``. The grid is the quarter-resolution
    one, halved until it has at most ``max_cells`` cells: ``S`` grows with the square of the cells, and
    at 512 px the four quarter-resolution products were 60 % of the run."""
    g1 = capped_grid(m1[min(2, len(m1) - 1)].shape[-2:], max_cells)
    g2 = capped_grid(m2[min(2, len(m2) - 1)].shape[-2:], max_cells)
    out = {}
    for (name, _, _), a, b in zip(SCALES, m1, m2):
        a, b = _to_grid(a, g1), _to_grid(b, g2)
        out[name] = confident_set(a[0].reshape(a.shape[1], -1), b[0].reshape(b.shape[1], -1), threshold, chunk=chunk)
    return out, g1, g2


def swap_fine(
    f1: torch.Tensor, f2: torch.Tensor, conf: Confident, grid_1: tuple[int, int], grid_2: tuple[int, int]
) -> torch.Tensor:
    """Eq. 3 on a map ``(1, C, H1, W1)`` finer than (or as fine as) the matching grid: each position takes
    the style ``f2`` ``(1, C, H2, W2)`` at the same offset inside its cell's matched cell."""
    fine = refine(conf, grid_1, grid_2, tuple(f1.shape[-2:]), tuple(f2.shape[-2:]))
    return latent_swap(f1, f2, fine)


def decoder_maps(
    f1: list[torch.Tensor],
    f2: list[torch.Tensor],
    confident: dict[str, Confident],
    grid_1: tuple[int, int],
    grid_2: tuple[int, int],
    texture_level: int,
) -> list[torch.Tensor]:
    """Maps fine to coarse for the decoder: the content's on the ``texture_level`` coarsest scales,
    the aligned style's on the others."""
    out = []
    for k, ((name, _, _), a, b) in enumerate(zip(SCALES, f1, f2)):
        out.append(a if k >= MAX_LEVEL - texture_level else swap_fine(a, b, confident[name], grid_1, grid_2))
    return out


def _restore(decoded: torch.Tensor, content: torch.Tensor, small: torch.Tensor) -> torch.Tensor:
    """The decoder's output ``(1, 3, h, w)`` at the content's full size ``(1, 3, H, W)``: upsampled, plus
    the content's detail finer than the working size (``content`` minus its upsampled ``small`` copy),
    so edges stay as sharp as the content's; the colour step then runs at full size."""
    size = content.shape[-2:]
    if decoded.shape[-2:] == size:
        return decoded.clamp(0, 1)
    detail = content - resize(small, size) if small.shape[-2:] != size else 0.0
    return (resize(decoded, size) + detail).clamp(0, 1)


def load_nets(
    checkpoint: str | None = None, *, required: bool = True, device: torch.device | str = "cpu"
) -> tuple[Matcher, AppearanceDecoder, dict] | None:
    """The trained matcher and decoder (eval mode, on ``device``, cached per file and device: see
    :func:`~analogist.training.checkpoint.load_trained`) and the checkpoint's provenance, or ``None`` when
    no checkpoint exists and ``required`` is false."""
    path = (
        resolve_checkpoint("coat", CHECKPOINT, checkpoint)
        if required
        else find_checkpoint("coat", CHECKPOINT, checkpoint)
    )
    if path is None:
        return None
    trained = load_trained(path, "coat", _build, device=device, what="COAT networks")
    matcher, decoder = trained.models["matcher"], trained.models["decoder"]
    return matcher, decoder, {"checkpoint": str(path), **trained.provenance}


def _build(state: dict) -> dict[str, nn.Module]:
    cfg = state.get("config", {})
    return {
        "matcher": Matcher(cfg.get("dims", 64)),
        "decoder": AppearanceDecoder(tuple(cfg.get("widths", (96, 64, 48, 32)))),
    }


@torch.no_grad()
def learned_levels(
    content: torch.Tensor, style: torch.Tensor, params: COATParams, levels: list[int]
) -> dict[int, COATResult]:
    """The learned form at several texture levels: ``{n: result}`` (one decoder pass each)."""
    check_image(content, "content", min_side=16)
    check_image(style, "style", min_side=16)
    t0 = time.perf_counter()
    matcher, decoder, _ = load_nets(params.checkpoint, device=content.device)
    backbone = get_backbone(params.backbone, params.weights, device=content.device)
    content, style = content.float(), style.float()
    # scaled (antialiased) so the longer side is at most learned_side
    small_1, small_2 = (resize_longer(x, min(params.learned_side, max(x.shape[-2:]))) for x in (content, style))
    f1, f2 = encode(backbone, small_1), encode(backbone, small_2)
    confident, g1, g2 = confident_sets(
        matcher(f1), matcher(f2), params.threshold, chunk=params.chunk, max_cells=params.max_cells
    )
    t_align = time.perf_counter() - t0
    results = {}
    for n in levels:
        t = time.perf_counter()
        image, _ = decoder(decoder_maps(f1, f2, confident, g1, g2, n))
        image = _restore(resize(image, small_1.shape[-2:]), content, small_1)
        if params.color and n < MAX_LEVEL:
            image = recolor(image, style, confident, g1, g2, params)
        results[n] = COATResult(
            image, Alignment(confident, g1, g2, None), {"align": t_align, "decode": time.perf_counter() - t}
        )
    return results


__all__ = [
    "LAYERS",
    "CHECKPOINT",
    "encode",
    "Matcher",
    "AppearanceDecoder",
    "confident_sets",
    "swap_fine",
    "decoder_maps",
    "load_nets",
    "learned_levels",
]
