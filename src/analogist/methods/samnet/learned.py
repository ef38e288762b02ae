"""SAM-Net's learned form: the matching network G of Fig. 3 and the losses of Eq. 11-13.

G is a small encoder-decoder on the L2-normalised window correlation ``C_l`` ``(K, h, w)`` that predicts
the residual affine field (Eq. 6-7). Its output is *local*: per cell, a translation of its own match
and a change of the linear part about the cell, so that a residual never moves a cell by an amount that
depends on where the cell sits in the image.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from ...matching.affine_field import window_offsets
from ...matching.flow import identity_grid

#: File name of the learned form's checkpoint (looked up like every weight file).
CHECKPOINT = "samnet.pt"
#: The linear part of G's residual is scaled down: one unit of output is a 10 % stretch, not 100 %.
LINEAR_SCALE = 0.1


class MatchingNet(nn.Module):
    """G: ``(B, K, h, w)`` correlation -> ``(B, 6, h, w)`` local residual ``(dtx, dax, dbx, dty, day, dby)``."""

    def __init__(self, k: int = 81, width: int = 32) -> None:
        super().__init__()
        self.k, self.width = k, width
        self.enc1 = nn.Sequential(nn.Conv2d(k, width, 3, padding=1), nn.ReLU(inplace=True))
        self.enc2 = nn.Sequential(
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.dec = nn.Sequential(nn.Conv2d(3 * width, width, 3, padding=1), nn.ReLU(inplace=True))
        self.head = nn.Conv2d(width, 6, 3, padding=1)
        # the untrained network leaves the field as it is
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, corr: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(corr)
        e2 = self.enc2(e1)
        up = F.interpolate(e2, size=e1.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.dec(torch.cat([e1, up], 1)))


def residual_to_global(residual: torch.Tensor) -> torch.Tensor:
    """G's local residual ``(6, h, w)`` as a change of the global field ``(6, h, w)`` (see affine_field)."""
    xs, ys = identity_grid(*residual.shape[-2:], dtype=residual.dtype, device=residual.device)
    tx, ax, bx, ty, ay, by = residual
    ax, bx, ay, by = (v * LINEAR_SCALE for v in (ax, bx, ay, by))
    return torch.stack([ax, bx, tx - ax * xs - bx * ys, ay, by, ty - ay * xs - by * ys])


def matching_loss(
    logits: torch.Tensor, gt_offset: torch.Tensor, radius: int, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Truncated cross-entropy of the semantic attribute matching loss (Eq. 11-13).

    Args:
        logits: ``(K, h, w)`` window scores around each cell's current match (row-major offsets).
        gt_offset: ``(2, h, w)`` true displacement of the match inside the window, in cells.
        radius: the window ``Q_i`` has side ``2 radius + 1``.
        valid: ``(h, w)`` cells to score; cells whose true offset falls outside the window are
            truncated (left out) whatever ``valid`` says.

    Returns:
        The mean over scored cells of ``-sum_q t_q log softmax(logits)_q``, where ``t`` splats the true
        offset bilinearly onto the four nearest window positions (0 when no cell is scored).
    """
    if logits.shape[0] != (2 * radius + 1) ** 2:
        raise ValueError(
            f"logits have {logits.shape[0]} window positions, radius {radius} needs {(2 * radius + 1) ** 2}"
        )
    off = window_offsets(radius, logits)  # (K, 2)
    # bilinear splat: weight of window position q is the tent (1 - |dx|)(1 - |dy|) around the true offset
    d = (off[:, :, None, None] - gt_offset[None]).abs()  # (K, 2, h, w)
    target = (1 - d[:, 0]).clamp_min(0) * (1 - d[:, 1]).clamp_min(0)
    inside = (gt_offset.abs() <= radius).all(0)
    keep = inside if valid is None else inside & valid
    if not keep.any():
        return logits.sum() * 0
    ce = -(target.detach() * torch.log_softmax(logits, 0)).sum(0)
    return ce[keep].mean()


def smoothness_loss(field: torch.Tensor) -> torch.Tensor:
    """L2 smoothness of a field ``(6, h, w)``: mean squared difference of neighbouring cells' linear
    parts and own matches."""
    lin = field[[0, 1, 3, 4]]
    return (lin[:, 1:] - lin[:, :-1]).pow(2).mean() + (lin[:, :, 1:] - lin[:, :, :-1]).pow(2).mean()


def load_networks(
    checkpoint: str | Path | None, *, device: torch.device | str = "cpu"
) -> tuple[MatchingNet, nn.Module | None, dict]:
    """The trained G, the attribute-transfer decoder (``None`` in checkpoints from before it) and their
    settings, from the learned form's checkpoint (explicit path, then ``ANALOGIST_SAMNET_CHECKPOINT``,
    ``$ANALOGIST_WEIGHTS_DIR/samnet.pt``, the bundled file), in eval mode on ``device``; cached per file
    and device (:func:`~analogist.training.checkpoint.load_trained`)."""
    from ...training import resolve_checkpoint
    from ...training.checkpoint import load_trained

    path = resolve_checkpoint("samnet", CHECKPOINT, checkpoint)
    trained = load_trained(path, "samnet", _build, device=device, what="SAM-Net networks")
    return trained.models["G"], trained.models.get("D"), trained.config


def _build(state: dict) -> dict[str, nn.Module]:
    """G, and the decoder where the checkpoint has one, untrained, as its settings describe them."""
    from ...features import get_backbone
    from .transfer import AttributeDecoder, skip_layers

    cfg = state.get("config", {})
    nets: dict[str, nn.Module] = {
        "G": MatchingNet(k=(2 * int(cfg.get("radius", 4)) + 1) ** 2, width=int(cfg.get("width", 32)))
    }
    if "D" in state["models"]:
        backbone, layer = cfg.get("backbone", "efficientnet-lite0"), cfg.get("layer", "stage5")
        info = get_backbone(backbone).info
        nets["D"] = AttributeDecoder(info[layer].channels, [info[n].channels for n in skip_layers(backbone, layer)])
    return nets


def load_matching_net(checkpoint: str | Path | None) -> tuple[MatchingNet, dict]:
    """The trained G and its settings (see :func:`load_networks`)."""
    net, _, cfg = load_networks(checkpoint)
    return net, cfg


def _trained_on(cfg: dict, backbone: str, layer: str) -> bool:
    """Whether a checkpoint's settings ``cfg`` name ``backbone`` and ``layer`` (or name neither)."""
    return cfg.get("backbone", backbone) == backbone and cfg.get("layer", layer) == layer


def learned_fits(checkpoint: str | Path | None, backbone: str, layer: str) -> bool:
    """Whether a learned-form checkpoint is found (as :func:`load_networks` looks) and was trained on
    ``backbone`` and ``layer``."""
    from ...training import find_checkpoint

    if find_checkpoint("samnet", CHECKPOINT, checkpoint) is None:
        return False
    return _trained_on(load_networks(checkpoint)[2], backbone, layer)


def learned_parts(
    checkpoint: str | Path | None,
    backbone: str,
    layer: str,
    *,
    matching: bool,
    decoder: bool | None,
    device: torch.device | str = "cpu",
) -> tuple[MatchingNet | None, nn.Module | None, int]:
    """The networks :func:`~analogist.methods.samnet.sam_net` asked for (G when ``matching``, the decoder
    when ``decoder``, or where the checkpoint has one when ``decoder`` is ``None``) on ``device`` and G's
    window radius, checked against the backbone and layer in use (see :func:`load_networks`)."""
    g, dec, cfg = load_networks(checkpoint, device=device)
    if decoder is None:
        decoder = dec is not None
    if not _trained_on(cfg, backbone, layer):
        raise InputError(
            f"the learned form was trained on {cfg.get('backbone')} {cfg.get('layer')}: use that backbone and layer"
        )
    if decoder and dec is None:
        raise InputError(
            "the SAM-Net checkpoint has no attribute-transfer decoder: train one with analogist train samnet"
        )
    return (g if matching else None), (dec if decoder else None), int(cfg.get("radius", 4))


__all__ = [
    "CHECKPOINT",
    "MatchingNet",
    "learned_fits",
    "learned_parts",
    "load_matching_net",
    "load_networks",
    "matching_loss",
    "residual_to_global",
    "smoothness_loss",
]
