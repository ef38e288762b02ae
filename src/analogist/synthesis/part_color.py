"""Part-by-part colour transfer along dense correspondences (COAT's colour step).

Optimising pixels against VGG features moves texture but leaves colour blotchy and mostly the
content's (the features' cosine barely sees absolute colour, and the coarse pyramid bands that carry
it start as the content's). This step gives every part of the output the colour statistics of the
style's corresponding part: in CIE Lab, each channel of the output keeps its local deviations
(texture, edges) around a smooth local mean and standard deviation that are replaced by the style's,
gathered at the matched style cells and spread over the content with a confidence-weighted Gaussian, so
that confident matches dominate and isolated wrong ones average out.

Images are ``(1, 3, H, W)`` float32 RGB in [0, 1]; the correspondence lives on a coarser grid
``(h, w)`` of the output (one style cell index per output cell). Colour conversions are OpenCV's.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .color import _chw, _hwc
from .filters import gaussian_blur


def _lab(image: torch.Tensor) -> np.ndarray:
    return cv2.cvtColor(_hwc(image.clamp(0.0, 1.0)), cv2.COLOR_RGB2Lab)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """:func:`~.filters.gaussian_blur` (reflected borders) of an ``(H, W)`` or ``(H, W, C)`` array."""
    image = torch.from_numpy(x.reshape(*x.shape[:2], -1)).permute(2, 0, 1)[None]
    return gaussian_blur(image, sigma, border="reflect")[0].permute(1, 2, 0).numpy().reshape(x.shape)


def _moments(lab: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and standard deviation ``(H, W, 3)`` of ``lab`` under a Gaussian window."""
    mean = _blur(lab, sigma)
    var = _blur(lab * lab, sigma) - mean * mean
    return mean, np.sqrt(np.maximum(var, 0.0))


def part_color(
    output: torch.Tensor,
    style: torch.Tensor,
    index: torch.Tensor,
    weight: torch.Tensor,
    grid: tuple[int, int],
    style_grid: tuple[int, int],
    *,
    sigma: float = 2.0,
    strength: float = 1.0,
    luminance: float = 1.0,
    max_gain: float = 2.0,
    confine: float | None = None,
) -> torch.Tensor:
    """``output`` recoloured part by part after ``style`` through a coarse correspondence.

    Args:
        output: ``(1, 3, H, W)`` the image to recolour (its structure is the content's).
        style: ``(1, 3, Hs, Ws)`` the appearance to take.
        index: ``(h * w,)`` int64, for every cell of the output's grid ``grid = (h, w)`` (row-major) the
            matched cell of the style's grid ``style_grid = (hs, ws)`` (cells of the same size in pixels).
        weight: ``(h * w,)`` confidence of each match in [0, 1] (for instance ``Q``).
        sigma: window of the local statistics and of the spreading, in grid cells.
        strength: 1 takes the style's statistics, 0 keeps the output's.
        luminance: how far the local mean lightness moves (times ``strength``): below 1 keeps
            more of the content's shading where matches fall on a differently lit part.
        max_gain: bound on the change of local contrast (the ratio of standard deviations), so a
            flat style region does not amplify noise or a textured one wipe out edges.
        confine: where the local mean of ``weight`` (the same Gaussian) is below this, the change
            fades out in proportion, so parts without confident matches keep their colour; ``None``:
            every part moves (the weights then only rank neighbouring matches).

    Returns:
        ``(1, 3, H, W)`` float32 RGB in [0, 1], on ``output``'s device.
    """
    h, w = grid
    big_h, big_w = output.shape[-2:]
    hs, ws = style_grid
    cell = big_h / h
    # local statistics per cell (window sigma cells) of the style, gathered at the matches, and of the
    # output, each spread over the output's grid by the same confidence-weighted Gaussian: a style
    # equal to the output under the identity match leaves it unchanged
    wgt = weight.detach().float().cpu().numpy().reshape(h, w).astype(np.float32) + 1e-4
    norm = _blur(wgt, sigma)[..., None]

    def field(image: np.ndarray, size: tuple[int, int], idx: np.ndarray | None) -> np.ndarray:
        stats = np.concatenate(_moments(image, sigma * cell), axis=2)
        # cell means by adaptive pooling: OpenCV's area resize takes at most 4 channels off whole ratios
        pooled = F.adaptive_avg_pool2d(torch.from_numpy(stats).permute(2, 0, 1)[None], size)
        cells = pooled[0].permute(1, 2, 0).reshape(-1, 6).numpy()
        cells = (cells if idx is None else cells[idx]).reshape(h, w, 6).astype(np.float32)
        spread = _blur(cells * wgt[..., None], sigma) / norm
        return cv2.resize(spread, (big_w, big_h), interpolation=cv2.INTER_LINEAR)

    lab = _lab(output)
    idx = index.detach().cpu().numpy().clip(0, hs * ws - 1)
    s_field, o_field = field(_lab(style), (hs, ws), idx), field(lab, (h, w), None)
    o_mean, o_std = o_field[..., :3], o_field[..., 3:]
    gain = np.clip(s_field[..., 3:] / np.maximum(o_std, 1e-3), 1.0 / max_gain, max_gain)
    gain[..., 1:] = np.minimum(gain[..., 1:], 1.0)  # chroma noise of the optimisation is never amplified
    moved = (lab - o_mean) * gain + s_field[..., :3]
    moved[..., 0] -= (1.0 - luminance) * (s_field[..., 0] - o_mean[..., 0])
    amount = np.float32(strength)
    if confine is not None:
        local = np.clip(norm[..., 0] / confine, 0.0, 1.0)  # norm: the local mean weight (reflected borders)
        amount = amount * cv2.resize(local, (big_w, big_h), interpolation=cv2.INTER_LINEAR)[..., None]
    lab = lab + amount * (moved - lab)
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return _chw(rgb).clamp(0.0, 1.0).to(output.device)


__all__ = ["part_color"]
