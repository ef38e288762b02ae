"""SAM-Net's attribute-transfer decoder with droplink skip connections (Kim et al. CVPR 2019, Eq. 10).

The decoder is symmetric to the feature extractor: it starts from the blended features ``B`` of the
matched layer (Eq. 8) and climbs back to the image through one stage per encoder stage, each stage
concatenating the *source's* encoder features of that resolution (the skip connections that carry the
source's structure). Droplink (Eq. 10) keeps each skip with probability ``b_h = 0.9`` while training,
so the decoder never relies on a skip alone and can decode from ``B``; at test time every skip is used
with the deterministic weight ``b_h = 0.5`` the paper gives, which lets the target's attributes in ``B``
show through the source's detail.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Encoder layers whose source features feed the skips, coarse to fine, per matched layer.
SKIP_LAYERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("efficientnet-lite0", "stage5"): ("stage4", "stage3", "stage2", "stage1"),
    ("vgg16-hed", "relu4_1"): ("relu3_1", "relu2_1", "relu1_1"),
    ("vgg16", "relu4_1"): ("relu3_1", "relu2_1", "relu1_1"),
    ("vgg19", "relu4_1"): ("relu3_1", "relu2_1", "relu1_1"),
}
#: b_h of Eq. 10: keep probability of a skip in training, and its weight at test time.
KEEP_TRAIN = 0.9
WEIGHT_TEST = 0.5
#: Encoder activations of both backbones have a standard deviation of about 5-8; dividing by it keeps
#: the first convolutions in their linear range at initialisation.
FEATURE_SCALE = 1.0 / 6.0


def skip_layers(backbone: str, layer: str) -> tuple[str, ...]:
    """The skip layers of the decoder for ``layer`` of ``backbone`` (coarse to fine; none if unknown)."""
    return SKIP_LAYERS.get((backbone, layer), ())


def droplink(
    skip: torch.Tensor,
    *,
    training: bool,
    keep: float = KEEP_TRAIN,
    weight: float = WEIGHT_TEST,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Eq. 10's gate on a skip ``(B, C, h, w)``: in training each sample's skip is kept whole with
    probability ``keep`` (else zeroed; no rescaling, as the paper), at test it is multiplied by
    ``weight``. The random draw comes from ``generator`` (CPU) so training stays reproducible."""
    if not training:
        return skip * weight
    draw = torch.rand(skip.shape[0], generator=generator) < keep
    return skip * draw.to(device=skip.device, dtype=skip.dtype)[:, None, None, None]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.2)
    )


class AttributeDecoder(nn.Module):
    """Blended features ``(B, C, h, w)`` plus the source's skips (coarse to fine) -> image ``(B, 3, H, W)``.

    Args:
        channels: channels of the matched layer.
        skips: channels of each skip layer, coarse to fine.
        widths: channels after the entry and after each skip stage (``len(skips) + 1`` values).
    """

    def __init__(self, channels: int, skips: Sequence[int], widths: Sequence[int] = (96, 64, 48, 32, 24)) -> None:
        super().__init__()
        widths = tuple(widths)[: len(skips) + 1]
        if len(widths) != len(skips) + 1:
            raise ValueError(f"need {len(skips) + 1} widths for {len(skips)} skips, got {widths}")
        self.channels, self.skips, self.widths = channels, tuple(skips), widths
        self.entry = _block(channels, widths[0])
        self.stages = nn.ModuleList(_block(w + c, nxt) for w, c, nxt in zip(widths, skips, widths[1:]))
        self.out = nn.Sequential(nn.Conv2d(widths[-1], 16, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(16, 3, 1))

    def forward(
        self,
        blended: torch.Tensor,
        skips: Sequence[torch.Tensor],
        size: tuple[int, int],
        *,
        keep: float = KEEP_TRAIN,
        weight: float = WEIGHT_TEST,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode; in ``train()`` mode the skips are dropped at random (:func:`droplink`), in ``eval()``
        they are weighted by ``weight``. Returns RGB in [0, 1] at ``size``."""
        x = self.entry(blended * FEATURE_SCALE)
        for stage, skip in zip(self.stages, skips):
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            gated = droplink(
                skip * FEATURE_SCALE, training=self.training, keep=keep, weight=weight, generator=generator
            )
            x = stage(torch.cat([x, gated], 1))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.out(x))


__all__ = ["KEEP_TRAIN", "SKIP_LAYERS", "WEIGHT_TEST", "AttributeDecoder", "droplink", "skip_layers"]
