"""Training SAM-Net's two networks of Fig. 3: the matching network G and the attribute-transfer decoder.

The paper's first step uses synthetic pairs: each step draws crops from a folder of images, warps them
by a random affine or thin-plate-spline map (whose flow is the ground truth) and changes their
appearance (photometric jitter: the "attribute" difference).

- G is unrolled for a few recurrent iterations on the frozen backbone's correlation and minimises the
  truncated cross-entropy of Eq. 11-13 after each update, plus the endpoint error of the field's own
  matches and an L2 smoothness term.
- The decoder decodes ``B = (1 - lambda) F_s + lambda F_t(true match)`` (Eq. 8 with the true field and a
  random ``lambda``) with the source's droplink skips (Eq. 10) and minimises the content loss of Eq. 2
  (the decoded image's features against ``B``, relative to ``B``'s energy) plus an L1 anchor toward the
  image-space blend (the source's detail with the warped target's colours below the feature grid):
  without it a few thousand CPU steps do not fix the colours, which deep features barely see.

The second, optional step (:mod:`analogist.methods.samnet.weak`) fine-tunes G on unlabelled real pairs.
``analogist train samnet`` runs either (:mod:`analogist.cli.train_samnet`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ...errors import InputError
from ...features import get_backbone
from ...matching.affine_field import field_targets, identity_field, l2_normalize_window, window_correlation
from ...matching.flow import pixel_flow_to_grid
from ...synthesis.blend import image_blend
from ...synthesis.warp import sample
from ...training import ImageFolder, TrainTask, jitter, load_checkpoint, random_affine, random_tps, warp
from ...training.checkpoint import load_models
from .learned import MatchingNet, matching_loss, residual_to_global, smoothness_loss
from .transfer import AttributeDecoder, skip_layers

#: What a run trains: both networks, or one of them (the other is carried along unchanged).
PARTS = ("both", "G", "decoder")


@dataclass(frozen=True)
class SAMNetTrainSettings:
    """What defines a training run (recorded in the checkpoint; a resume must match it).

    ``part`` picks the networks trained; ``init`` is a checkpoint whose networks start the run (the
    weakly supervised step starts from the synthetic one); ``pairs`` switches G to the weakly
    supervised loss on a folder of real pairs (:mod:`analogist.methods.samnet.weak`).
    """

    size: int = 256
    batch: int = 2
    lr: float = 3e-3
    unroll: int = 3
    radius: int = 4
    beta: float = 50.0
    width: int = 32
    w_epe: float = 1.0
    w_smooth: float = 1.0
    backbone: str = "efficientnet-lite0"
    layer: str = "stage5"
    part: str = "both"
    lr_decoder: float = 1e-3
    w_content: float = 1.0
    w_pixel: float = 1.0
    pairs: bool = False
    w_cycle: float = 1.0
    init: str | None = None


class SAMNetTask(TrainTask):
    """The :class:`~analogist.training.TrainTask` of SAM-Net's G and decoder D."""

    name = "samnet"

    def __init__(
        self,
        images: str | None,
        settings: SAMNetTrainSettings = SAMNetTrainSettings(),
        weights: str | None = None,
        pairs: str | None = None,
    ):
        if settings.part not in PARTS:
            raise InputError(f"unknown part {settings.part!r}: choose one of {', '.join(PARTS)}")
        self.settings = settings
        self.net = get_backbone(settings.backbone, weights)
        if settings.layer not in self.net.names:
            raise InputError(f"backbone {self.net.name} has no layer {settings.layer!r}")
        self.skips = skip_layers(self.net.name, settings.layer)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.folder = ImageFolder(images, size=settings.size) if images is not None else None
        self.pair_folder = None
        if settings.pairs:
            from ...training.pairs import PairFolder

            if pairs is None:
                raise InputError("the weakly supervised step needs a folder of pairs")
            self.pair_folder = PairFolder(pairs, size=settings.size)
        if self.folder is None and (self.pair_folder is None or settings.part != "G"):
            raise InputError("give --images: the synthetic step and the decoder train on a folder of images")

    def config(self) -> dict[str, Any]:
        return asdict(self.settings)

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.folder is not None:
            out["images"] = self.folder.describe()
        if self.pair_folder is not None:
            out["pairs"] = self.pair_folder.describe()
        return out

    def build(self, device: torch.device) -> dict[str, nn.Module]:
        s = self.settings
        self.net.to(device)
        info = {n: self.net.info[n].channels for n in (s.layer, *self.skips)}
        models: dict[str, nn.Module] = {
            "G": MatchingNet(k=(2 * s.radius + 1) ** 2, width=s.width).to(device),
            "D": AttributeDecoder(info[s.layer], [info[n] for n in self.skips]).to(device),
        }
        if s.init:
            load_models(models, load_checkpoint(s.init, kind=self.name), missing_ok=True)
        return models

    def trained(self) -> tuple[str, ...]:
        return {"both": ("G", "D"), "G": ("G",), "decoder": ("D",)}[self.settings.part]

    def optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        lr = {"G": self.settings.lr, "D": self.settings.lr_decoder}
        return {k: torch.optim.Adam(models[k].parameters(), lr=lr[k]) for k in self.trained()}

    def pair(self, generator: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A synthetic batch: ``source`` (warped and re-coloured), ``target`` (the crops) and the true
        flow source -> target ``(B, 2, S, S)`` in pixels."""
        images = self.folder.sample(self.settings.batch, generator).to(device)
        if torch.rand((), generator=generator) < 0.5:
            warped, flow = random_affine(images, generator)
        else:
            warped, flow = random_tps(images, generator)
        return jitter(warped, generator), images, flow.to(device)

    def losses(
        self, g: nn.Module, source: torch.Tensor, target: torch.Tensor, flow: torch.Tensor
    ) -> tuple[torch.Tensor, float, float]:
        """``(loss, cross-entropy, endpoint error in cells)`` of G unrolled on a batch, averaged over
        pairs and iterations."""
        s = self.settings
        with torch.no_grad():
            fs = self.net.extract(source, [s.layer])[s.layer]
            ft = self.net.extract(target, [s.layer])[s.layer]
        loss, ce_sum, epe_sum = fs.new_zeros(()), 0.0, 0.0
        for b in range(source.shape[0]):
            fsb, ftb = fs[b : b + 1], ft[b : b + 1]
            grid = tuple(fs.shape[-2:])  # the true match of each cell: the flow at its centre
            gt = pixel_flow_to_grid(flow[b], grid, grid, tuple(source.shape[-2:]), mode="bilinear")
            aff = identity_field(tuple(fs.shape[-2:]), like=fs)
            for _ in range(s.unroll):
                corr = window_correlation(fsb, ftb, field_targets(aff), s.radius)
                aff = aff + residual_to_global(g(l2_normalize_window(corr)[None])[0])
                centres = field_targets(aff)
                logits = s.beta * l2_normalize_window(window_correlation(fsb, ftb, centres, s.radius))
                ce = matching_loss(logits, (gt - centres).detach(), s.radius)
                epe = (centres - gt).norm(dim=0).mean()
                loss = loss + ce + s.w_epe * epe + s.w_smooth * smoothness_loss(aff)
                ce_sum, epe_sum = ce_sum + float(ce.detach()), epe_sum + float(epe.detach())
        n = source.shape[0] * s.unroll
        return loss / n, ce_sum / n, epe_sum / n

    def decoder_losses(
        self,
        d: nn.Module,
        source: torch.Tensor,
        target: torch.Tensor,
        flow: torch.Tensor,
        lam: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, float, float]:
        """``(loss, content, pixel)`` of the decoder on a synthetic batch with blend shares ``lam`` ``(B,)``."""
        s = self.settings
        size = tuple(source.shape[-2:])
        with torch.no_grad():
            feats = self.net.extract(source, [s.layer, *self.skips])
            fs, ft = feats[s.layer], self.net.extract(target, [s.layer])[s.layer]
            grid = tuple(fs.shape[-2:])
            true = [pixel_flow_to_grid(flow[b], grid, grid, size, mode="bilinear") for b in range(len(fs))]
            ft_w = torch.cat([sample(ft[b : b + 1], t) for b, t in enumerate(true)])
            lam4 = lam.to(fs)[:, None, None, None]
            blended = (1 - lam4) * fs + lam4 * ft_w
            warped = warp(target, flow)
            anchor = torch.cat(
                [image_blend(source[b : b + 1], warped[b : b + 1], float(lam[b]), grid) for b in range(len(fs))]
            )
        out = d(blended, [feats[n] for n in self.skips], size, generator=generator)
        content = (self.net(out, [s.layer])[s.layer] - blended).pow(2).mean() / blended.pow(2).mean()
        pixel = (out - anchor).abs().mean()
        loss = s.w_content * content + s.w_pixel * pixel
        return loss, float(content.detach()), float(pixel.detach())

    def step(
        self,
        models: dict[str, nn.Module],
        optims: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
        step: int,
    ) -> dict[str, float]:
        device = next(models["G"].parameters()).device
        out: dict[str, float] = {}
        if "G" in optims:
            if self.pair_folder is not None:
                from .weak import weak_losses

                a, b = self.pair_folder.sample(self.settings.batch, generator)
                loss, parts = weak_losses(self.net, self.settings, models["G"], a.to(device), b.to(device))
                out.update(parts)
            else:
                loss, ce, epe = self.losses(models["G"], *self.pair(generator, device))
                out.update(ce=ce, epe_cells=epe)
            optims["G"].zero_grad()
            loss.backward()
            optims["G"].step()
            out["loss"] = float(loss.detach())
        if "D" in optims:
            batch = self.pair(generator, device)
            lam = torch.rand(self.settings.batch, generator=generator)
            loss, content, pixel = self.decoder_losses(models["D"], *batch, lam, generator)
            optims["D"].zero_grad()
            loss.backward()
            optims["D"].step()
            out.update(d_loss=float(loss.detach()), content=content, pixel=pixel)
        return out


__all__ = ["PARTS", "SAMNetTask", "SAMNetTrainSettings"]
