"""Semantic hybrids from best buddies (Neural Best-Buddies section 5.2).

After aligning both images on their pairs' midpoints, the coarsest level picks, per position, the
image whose normalised activation is stronger (Eq. 12). The choice is carried down the pyramid:
the hybrid feature map of a level is inverted one level down (L-BFGS feature inversion through the
backbone's sub-network) and every position of the finer level takes the image whose features are
closer to that inversion (the projection of Eq. 13). The finest mask composites the aligned images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..features import get_backbone
from ..matching.buddies import normalized_activation
from ..matching.mls import Kind
from ..progress import Progress, silent
from ..synthesis.deconv import deconvolve
from ..synthesis.filters import gaussian_blur
from .align import Alignment, align


@dataclass(frozen=True)
class HybridParams:
    """Parameters of the hybrid; the backbone and layers should match the buddies search."""

    backbone: str = "vgg16-hed"
    weights: str | None = None
    #: pyramid layers, shallow to deep; ``None`` takes the backbone's default five
    layers: tuple[str, ...] | None = None
    #: L-BFGS iterations of each feature inversion
    iters: int = 10
    #: Gaussian feathering of the final mask, in pixels (sigma)
    feather: float = 1.5
    #: MLS variant of the alignment
    kind: Kind = "affine"


@dataclass(frozen=True)
class Hybrid:
    #: ``(1, 3, H, W)`` the composite, in A's frame
    image: torch.Tensor
    #: ``(1, 1, H, W)`` in [0, 1]: 1 where the hybrid shows (aligned) A
    mask: torch.Tensor
    #: masks per level, coarsest first, ``(1, 1, h_l, w_l)`` binary
    level_masks: list[torch.Tensor]
    alignment: Alignment


def hybrid(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    points: torch.Tensor,
    params: HybridParams = HybridParams(),
    *,
    progress: Progress = silent,
) -> Hybrid:
    """Semantic hybrid of two images from their correspondences.

    Args:
        image_a: ``(1, 3, Ha, Wa)``; image_b: ``(1, 3, Hb, Wb)``.
        points: ``(N, 4)`` ``(xa, ya, xb, yb)`` pairs used for the alignment.
    """
    al = align(image_a, image_b, points, params.kind)
    net = get_backbone(params.backbone, params.weights)
    layers = net.check_layers(params.layers or net.default_layers)
    fa = net.extract(al.a, layers)
    fb = net.extract(al.b, layers)
    deep = layers[-1]
    # Eq. 12: the image with the stronger normalised activation wins at the coarsest level
    mask = (normalized_activation(fa[deep]) > normalized_activation(fb[deep])).float()[None, None]
    masks = [mask]
    for coarse, fine in progress(
        list(zip(reversed(layers[1:]), reversed(layers[:-1]))), total=len(layers) - 1, desc="hybrid"
    ):
        target = mask * fa[coarse] + (1 - mask) * fb[coarse]
        # a neutral start: the projection below must find which image the inversion resembles,
        # rather than get the coarse mask back from its own initialisation
        init = (fa[fine] + fb[fine]) / 2
        inverted = deconvolve(net.subnet(fine, coarse), target, init, params.iters)
        # Eq. 13: project the inversion onto the nearer of the two images, per position
        da = (inverted - fa[fine]).norm(dim=1, keepdim=True)
        db = (inverted - fb[fine]).norm(dim=1, keepdim=True)
        mask = (da < db).float()
        # a 3x3 majority vote removes isolated flips, which at fine levels are texture noise
        # rather than semantic choices
        mask = (F.avg_pool2d(F.pad(mask, (1, 1, 1, 1), mode="replicate"), 3, stride=1) > 0.5).float()
        masks.append(mask)
    full = F.interpolate(mask, size=al.a.shape[-2:], mode="bilinear", align_corners=False)
    if params.feather > 0:
        full = gaussian_blur(full, params.feather, radius=max(1, int(3 * params.feather + 0.5)))
    out = (full * al.a + (1 - full) * al.b).clamp(0, 1)
    return Hybrid(out, full, masks, al)


__all__ = ["HybridParams", "Hybrid", "hybrid"]
