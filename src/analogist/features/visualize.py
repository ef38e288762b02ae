"""Looking at feature maps: a principal-component projection to RGB."""

from __future__ import annotations

import torch

from .pca import principal_axes


def pca_rgb(features: torch.Tensor, *, quantile: float = 0.01) -> torch.Tensor:
    """Project ``(1, C, H, W)`` features on their first three principal components as RGB ``(1, 3, H, W)``.

    Each component is stretched between its ``quantile`` and ``1 - quantile`` values, so a few
    extreme activations do not wash out the picture.
    """
    _, c, h, w = features.shape
    x = features[0].reshape(c, -1).T.double()  # (HW, C)
    k = min(3, c, x.shape[0])
    mean, axes = principal_axes(x.T, k)  # exact: the same picture for the same features, every run
    proj = (x - mean.T) @ axes.flip(1)  # the first component in red
    if k < 3:
        proj = torch.cat([proj, proj[:, :1].expand(-1, 3 - k)], dim=1)
    lo = torch.quantile(proj, quantile, dim=0, keepdim=True)
    hi = torch.quantile(proj, 1 - quantile, dim=0, keepdim=True)
    rgb = ((proj - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return rgb.T.reshape(1, 3, h, w).float()
