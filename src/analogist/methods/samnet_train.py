"""Training SAM-Net's matching network G on synthetic pairs (the paper's first training step).

Each step draws crops from a folder of images, warps them by a random affine or thin-plate-spline map
(whose flow is the ground truth) and changes their appearance (photometric jitter: the "attribute"
difference), then unrolls a few recurrent iterations of G on the frozen backbone's correlation and
minimises the truncated cross-entropy of Eq. 11-13 after each update, plus the endpoint error of the
field's own matches and an L2 smoothness term. ``analogist train samnet`` runs it (:mod:`analogist.cli.train_samnet`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..features import get_backbone
from ..matching.affine_field import (
    field_targets,
    identity_field,
    l2_normalize_window,
    window_correlation,
)
from ..training import ImageFolder, TrainTask, jitter, random_affine, random_tps
from .samnet_learned import (
    MatchingNet,
    matching_loss,
    residual_to_global,
    smoothness_loss,
)


@dataclass(frozen=True)
class SAMNetTrainSettings:
    """What defines a training run (recorded in the checkpoint; a resume must match it)."""

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


class SAMNetTask(TrainTask):
    """The :class:`~analogist.training.TrainTask` of SAM-Net's G (unlabelled ``--pairs`` are not used yet)."""

    name = "samnet"

    def __init__(self, images: str, settings: SAMNetTrainSettings = SAMNetTrainSettings(), weights: str | None = None):
        self.settings = settings
        self.folder = ImageFolder(images, size=settings.size)
        self.net = get_backbone(settings.backbone, weights)
        if settings.layer not in self.net.names:
            raise InputError(f"backbone {self.net.name} has no layer {settings.layer!r}")

    def config(self) -> dict[str, Any]:
        return asdict(self.settings)

    def data(self) -> dict[str, Any]:
        return {"images": self.folder.describe()}

    def build(self, device: torch.device) -> dict[str, nn.Module]:
        s = self.settings
        self.net.to(device)
        return {"G": MatchingNet(k=(2 * s.radius + 1) ** 2, width=s.width).to(device)}

    def optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {"G": torch.optim.Adam(models["G"].parameters(), lr=self.settings.lr)}

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
            gt = true_targets(flow[b], tuple(fs.shape[-2:]), tuple(source.shape[-2:]))
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

    def step(
        self,
        models: dict[str, nn.Module],
        optims: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
        step: int,
    ) -> dict[str, float]:
        g, opt = models["G"], optims["G"]
        loss, ce, epe = self.losses(g, *self.pair(generator, next(g.parameters()).device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach()), "ce": ce, "epe_cells": epe}


def true_targets(flow: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Where each cell of a feature grid ``(h, w)`` truly lands in the target grid ``(2, h, w)``, from a
    pixel flow ``(2, H, W)`` between same-sized images."""
    h, w = grid
    H, W = size
    cell = F.interpolate(flow[None], size=grid, mode="bilinear", align_corners=False)[0]
    ys, xs = torch.meshgrid(
        torch.arange(h, device=flow.device, dtype=flow.dtype),
        torch.arange(w, device=flow.device, dtype=flow.dtype),
        indexing="ij",
    )
    # cell centre in pixels, moved by the flow, back to cells
    px, py = (xs + 0.5) * W / w - 0.5, (ys + 0.5) * H / h - 0.5
    return torch.stack([(px + cell[0] + 0.5) * w / W - 0.5, (py + cell[1] + 0.5) * h / H - 0.5])


__all__ = ["SAMNetTask", "SAMNetTrainSettings", "true_targets"]
