"""Training COAT's learned form (:mod:`analogist.methods.coat.learned`) with the shared framework.

Each step draws crops ``x`` of one object class, makes a second view ``y`` by a photometric jitter and a
random thin-plate-spline warp (whose flow is the true correspondence), and trains:

- the matcher with the correspondence contrastive loss (Eq. 7): every cell of ``y`` against all cells
  of ``x``, the true source as positive and the ``k`` most similar cells away from it (ranked by
  ``S``) as hard negatives, at the two coarsest scales;
- the decoder with the reconstruction loss (Eq. 5: MSE plus a perceptual term on the VGG features):
  with ``n`` drawn at random from 0 to 4, decoding ``x``'s maps on the ``n`` coarsest scales and
  ``y``'s aligned maps (Eq. 1-3 on the matcher's features) on the rest must give the jittered ``x``,
  whose appearance ``y`` carries but whose structure it does not (``n = 4``: ``x``'s own maps must
  give ``x``);
- a regulariser (Eq. 6) on the decoder's modulations (scales and shifts), in place of the paper's
  regulariser of StyleGAN latents, which have no counterpart here.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from ...features import Backbone, get_backbone
from ...matching.contrastive import contrastive_loss
from ...matching.flow import identity_grid
from ...training import ImageFolder, TrainTask, jitter, load_checkpoint, random_tps, save_checkpoint, slim
from .correspond import MAX_LEVEL
from .learned import AppearanceDecoder, Matcher, confident_sets, decoder_maps, encode

KIND = "coat"


@dataclass(frozen=True)
class COATTrainSettings:
    """Training settings (recorded in the checkpoint; a resumed run must use the same)."""

    size: int = 128
    batch: int = 4
    lr: float = 2e-4
    dims: int = 64
    widths: tuple[int, ...] = (96, 64, 48, 32)
    w_perceptual: float = 0.05
    w_reg: float = 0.01
    w_contrastive: float = 0.2
    negatives: int = 16
    tau: float = 0.1
    warp: float = 0.08
    backbone: str = "vgg16-hed"

    def __post_init__(self) -> None:
        if self.size < 32 or self.size % 8 or self.batch < 1 or self.lr <= 0:
            raise InputError(f"size must be a multiple of 8 of at least 32, batch and lr positive (got {self})")


def perceptual(backbone: Backbone, out: torch.Tensor, target: list[torch.Tensor]) -> torch.Tensor:
    """Mean squared difference between the compressed VGG maps (relu1_1 ... relu3_1) of an image batch
    and ``target`` (:func:`~analogist.methods.coat.learned.encode` of the target images)."""
    a = encode(backbone, out)[:3]
    return sum(F.mse_loss(x, y) for x, y in zip(a, target[:3])) / 3


def correspondence_loss(
    mx: torch.Tensor, my: torch.Tensor, flow: torch.Tensor, size: int, *, k: int, tau: float
) -> torch.Tensor:
    """Eq. 7 between matching maps ``mx``, ``my`` ``(B, d, h, w)`` of ``x`` and its warp ``y``;
    ``flow`` ``(B, 2, size, size)`` sends each pixel of ``y`` to its source in ``x``."""
    b, d, h, w = mx.shape
    stride = size / h
    centres = (torch.arange(h, device=mx.device) + 0.5) * stride - 0.5
    f = flow[:, :, centres.round().long()][:, :, :, centres.round().long()]  # (B, 2, h, w) at cell centres
    src_x = ((centres[None, None, :] + f[:, 0] + 0.5) / stride).floor().long()  # the cell holding the source
    src_y = ((centres[None, :, None] + f[:, 1] + 0.5) / stride).floor().long()
    ok = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
    xy = identity_grid(h, w, dtype=torch.int64, device=mx.device).flatten(1).T.contiguous()  # (h*w, 2) x, y
    losses = []
    for i in range(b):
        valid = ok[i].reshape(-1)
        if valid.sum() < 2:
            continue
        positive = (src_y[i] * w + src_x[i]).reshape(-1)[valid]
        query = my[i].reshape(d, -1).T[valid]
        losses.append(contrastive_loss(query, mx[i].reshape(d, -1).T, positive, xy, k=k, tau=tau))
    return torch.stack(losses).mean() if losses else mx.sum() * 0


class COATTask(TrainTask):
    """``models["matcher"]`` and ``models["decoder"]`` on the crops of one image folder."""

    name = KIND

    def __init__(
        self,
        images: str | os.PathLike,
        settings: COATTrainSettings = COATTrainSettings(),
        *,
        weights: str | None = None,
    ) -> None:
        self.settings = settings
        self.images = ImageFolder(images, size=settings.size, zoom=(1.0, 1.3))
        self.weights = weights
        self.backbone: Backbone | None = None

    def config(self) -> dict[str, Any]:
        return asdict(self.settings)

    def data(self) -> dict[str, Any]:
        return {"images": self.images.describe()}

    def build(self, device: torch.device) -> dict[str, nn.Module]:
        self.backbone = get_backbone(self.settings.backbone, self.weights, device=device)  # the per-device copy
        return {
            "matcher": Matcher(self.settings.dims).to(device),
            "decoder": AppearanceDecoder(self.settings.widths).to(device),
        }

    def optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {k: torch.optim.Adam(m.parameters(), lr=self.settings.lr) for k, m in models.items()}

    def views(self, generator: torch.Generator, device: torch.device) -> tuple[torch.Tensor, ...]:
        """``(x, x jittered, y, flow)``: ``y`` is the jittered ``x`` warped by ``flow``."""
        x = self.images.sample(self.settings.batch, generator).to(device)
        same = torch.Generator().set_state(generator.get_state())
        x_jit = jitter(x, same)
        generator.set_state(same.get_state())
        y, flow = random_tps(x_jit, generator, strength=self.settings.warp)
        return x, x_jit, y, flow.to(device)

    def step(
        self,
        models: dict[str, nn.Module],
        optims: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
        step: int,
    ) -> dict[str, float]:
        s, matcher, decoder = self.settings, models["matcher"], models["decoder"]
        assert self.backbone is not None
        device = next(decoder.parameters()).device
        x, x_jit, y, flow = self.views(generator, device)
        with torch.no_grad():
            fx, fy, f_jit = encode(self.backbone, x), encode(self.backbone, y), encode(self.backbone, x_jit)
        mx, my = matcher(fx), matcher(fy)
        con = sum(correspondence_loss(mx[k], my[k], flow, s.size, k=s.negatives, tau=s.tau) for k in (2, 3)) / 2

        # n = MAX_LEVEL decodes x's own maps (plain reconstruction), smaller n a swap towards y
        n = int(torch.randint(MAX_LEVEL + 1, (1,), generator=generator))
        maps = []
        with torch.no_grad():
            for i in range(x.shape[0]):
                one_x, one_y = [f[i : i + 1] for f in fx], [f[i : i + 1] for f in fy]
                conf, g1, g2 = confident_sets([m[i : i + 1] for m in mx], [m[i : i + 1] for m in my], 1.0)
                maps.append(decoder_maps(one_x, one_y, conf, g1, g2, n))
        swapped = [torch.cat([m[k] for m in maps]) for k in range(len(fx))]
        target, target_feats = (x, fx) if n == MAX_LEVEL else (x_jit, f_jit)
        out, reg = decoder(swapped)
        rec = F.mse_loss(out, target)
        per = perceptual(self.backbone, out, target_feats)
        loss = rec + s.w_perceptual * per + s.w_reg * reg + s.w_contrastive * con
        for o in optims.values():
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in optims.values():
            o.step()
        return {"loss": loss.item(), "rec": rec.item(), "perc": per.item(), "reg": reg.item(), "con": con.item()}


def export(source: str | os.PathLike, dest: str | os.PathLike) -> None:
    """A small inference copy of a training checkpoint (float16 weights, no optimizer or RNG state)."""
    state = slim(load_checkpoint(source, kind=KIND))
    state["models"] = {
        name: {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
        for name, sd in state["models"].items()
    }
    save_checkpoint(dest, state)


__all__ = ["KIND", "COATTrainSettings", "COATTask", "correspondence_loss", "perceptual", "export"]
