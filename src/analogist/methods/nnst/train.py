"""Training the NNST-D decoder (Kolkin et al. 2022, section 3.3.2) with the shared framework.

One step, for a batch of content crops ``C`` and style crops ``S`` (one style per content):

- ``T``: every content hypercolumn replaced by its zero-centred cosine nearest neighbour among the
  style's (as NNST-Opt builds its targets), decoded to ``O = D(T)``;
- Eq. 4, style reconstruction: the decoded style features ``D(Phi(S))`` against ``S``, L1 summed over
  the four Laplacian levels;
- Eq. 5, cycle: mean cosine distance between ``Phi(O)`` and ``T`` (zero when ``T = Phi(O)``);
- Eq. 6, adversarial patch co-occurrence (Park et al. 2020): a critic sees a patch and reference
  patches of ``S``, and tells a patch of ``S`` (real) from a patch of ``O`` (fake); non-saturating
  logistic losses for the decoder and the critic.

Adam with lr 2e-3 and betas (0, 0.99) for both networks, batch 4, as in the paper. Not as in the paper
(for a CPU budget): one decoder for every output scale, trained on crops of ``scale`` px drawn at
zooms 1-4x so it sees features of whole images and of details; no style rotations during training;
``w_adv`` (the paper gives no weights) defaults to 0.05 so the short runs stay stable.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from ...features import get_backbone
from ...features.hypercolumn import BACKBONES, Extractor, extractor_for
from ...matching.hypercolumn import Keys, flatten, match
from ...synthesis import pyramid
from ...synthesis.decoder import LRELU_GAIN, Decoder, DecoderConfig, EqualConv2d, EqualLinear
from ...training import ImageFolder, TrainTask, load_checkpoint, save_checkpoint, slim
from .params import PADDING

KIND = "nnst-d"
SCALES = (64, 128, 256, 512)


class CooccurrenceCritic(nn.Module):
    """Patch co-occurrence discriminator (Park et al. 2020, "Swapping Autoencoder"): is ``patch``
    ``(B, 3, p, p)`` from the same image as ``refs`` ``(B, R, 3, p, p)``? Returns logits ``(B,)``."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in (width, 2 * width, 4 * width, 4 * width):
            layers += [EqualConv2d(cin, cout, 3, stride=2, padding=1, gain=LRELU_GAIN), nn.LeakyReLU(0.2)]
            cin = cout
        self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(
            EqualLinear(8 * width, 4 * width, gain=LRELU_GAIN), nn.LeakyReLU(0.2), EqualLinear(4 * width, 1)
        )

    def forward(self, patch: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        b, r = refs.shape[:2]
        ref = self.encoder(refs.flatten(0, 1)).view(b, r, -1).mean(dim=1)
        return self.head(torch.cat([self.encoder(patch), ref], dim=1))[:, 0]


def random_patches(images: torch.Tensor, n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random ``size x size`` patches of each image of ``(B, 3, H, W)``: ``(B, n, 3, size, size)``."""
    b, _, h, w = images.shape
    ys = torch.randint(h - size + 1, (b, n), generator=generator).tolist()
    xs = torch.randint(w - size + 1, (b, n), generator=generator).tolist()
    return torch.stack(
        [torch.stack([images[i, :, y : y + size, x : x + size] for y, x in zip(ys[i], xs[i])]) for i in range(b)]
    )


def laplacian_l1(output: torch.Tensor, target: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Eq. 4: sum over Laplacian levels of the mean absolute difference."""
    return sum((a - b).abs().mean() for a, b in zip(pyramid.build(output, levels), pyramid.build(target, levels)))


def cycle_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 5: mean cosine distance between hypercolumns ``(B, C, h, w)`` position by position."""
    return (1.0 - F.cosine_similarity(features, target, dim=1, eps=1e-12)).mean()


@dataclass(frozen=True)
class NNSTDSettings:
    """The settings of a training run (all recorded; a checkpoint resumes only with equal ones)."""

    scale: int = 64
    batch: int = 4
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    lr: float = 2e-3
    w_rec: float = 1.0
    w_cycle: float = 1.0
    w_adv: float = 0.05
    zoom: tuple[float, float] = (1.0, 4.0)
    refs: int = 4
    critic_width: int = 32
    backbone: str = "vgg16-hed"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.scale < 32 or self.scale % 4:
            raise InputError(f"the training scale must be a multiple of 4 and at least 32 px, got {self.scale}")
        if self.batch < 1:
            raise InputError(f"the batch must hold at least one image, got {self.batch}")
        if self.backbone not in BACKBONES:
            raise InputError(f"backbone must be one of {', '.join(BACKBONES)}")


class NNSTDecoderTask(TrainTask):
    """The decoder (``models["decoder"]``) and its critic (``models["critic"]``)."""

    name = KIND

    def __init__(
        self,
        content: str | os.PathLike,
        style: str | os.PathLike,
        settings: NNSTDSettings = NNSTDSettings(),
        *,
        weights: str | None = None,
    ) -> None:
        self.settings = s = settings
        self.content = ImageFolder(content, size=s.scale, zoom=s.zoom)
        self.style = ImageFolder(style, size=s.scale, zoom=s.zoom)
        self.weights = weights
        self.extractor: Extractor | None = None

    def config(self) -> dict[str, Any]:
        d = asdict(self.settings)
        d["decoder"] = self.settings.decoder.dict()
        return d

    def data(self) -> dict[str, Any]:
        return {"content": self.content.describe(), "style": self.style.describe()}

    def build(self, device: torch.device) -> dict[str, nn.Module]:
        backbone = get_backbone(self.settings.backbone, self.weights, device=device)  # the per-device copy
        self.extractor = extractor_for(backbone, self.settings.precision, "conv-train", padding=PADDING)
        return {
            "decoder": Decoder(self.settings.decoder).to(device),
            "critic": CooccurrenceCritic(self.settings.critic_width).to(device),
        }

    def optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {k: torch.optim.Adam(m.parameters(), lr=self.settings.lr, betas=(0.0, 0.99)) for k, m in models.items()}

    def targets(self, content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T, Phi(S))``: the nearest-neighbour targets of each content crop among its style's
        hypercolumns, and those hypercolumns, both ``(B, 2688, s/4, s/4)``."""
        assert self.extractor is not None
        with torch.no_grad():
            fc, fs = self.extractor.hyper(content), self.extractor.hyper(style)
            t = torch.empty_like(fc)
            for i in range(fc.shape[0]):
                keys = Keys.build(flatten(fs[i : i + 1]).cpu())
                idx = match(flatten(fc[i : i + 1]).cpu(), keys).to(fs.device)
                t[i] = flatten(fs[i : i + 1])[:, idx].view(fs.shape[1:])
        return t, fs

    def step(
        self,
        models: dict[str, nn.Module],
        optims: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
        step: int,
    ) -> dict[str, float]:
        s, dec, critic = self.settings, models["decoder"], models["critic"]
        device = next(dec.parameters()).device
        content = self.content.sample(s.batch, generator).to(device)
        style = self.style.sample(s.batch, generator).to(device)
        target, style_feats = self.targets(content, style)
        size = (s.scale, s.scale)
        patch = s.scale // 2
        real = random_patches(style, 1 + s.refs, patch, generator)

        out = dec(target, size)
        rec = laplacian_l1(dec(style_feats, size), style)
        cyc = cycle_loss(self.extractor.hyper(out), target)  # type: ignore[union-attr]
        fake = random_patches(out, 1, patch, generator)[:, 0]
        adv = F.softplus(-critic(fake, real[:, 1:])).mean()
        loss = s.w_rec * rec + s.w_cycle * cyc + s.w_adv * adv
        optims["decoder"].zero_grad(set_to_none=True)
        loss.backward()
        optims["decoder"].step()

        d_real = critic(real[:, 0], real[:, 1:])
        d_fake = critic(fake.detach(), real[:, 1:])
        d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        optims["critic"].zero_grad(set_to_none=True)
        d_loss.backward()
        optims["critic"].step()
        return {"rec": rec.item(), "cycle": cyc.item(), "adv": adv.item(), "critic": d_loss.item()}


def export_decoder(source: str | os.PathLike, dest: str | os.PathLike, *, half: bool = True) -> Path:
    """A small inference copy of a training checkpoint: the decoder only (float16 by default), with
    its configuration, loss history and provenance."""
    state = slim(load_checkpoint(source, kind=KIND), ["decoder"])
    if half:
        state["models"]["decoder"] = {
            k: v.half() if v.is_floating_point() else v for k, v in state["models"]["decoder"].items()
        }
    return save_checkpoint(dest, state)


__all__ = [
    "KIND",
    "SCALES",
    "CooccurrenceCritic",
    "NNSTDSettings",
    "NNSTDecoderTask",
    "laplacian_l1",
    "cycle_loss",
    "random_patches",
    "export_decoder",
]
