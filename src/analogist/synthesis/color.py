"""Colour post-processing of Neural Neighbor Style Transfer (Kolkin et al. 2022, section 3.5).

Optimising pixels against VGG features gets textures right but leaves blotchy, washed-out colour. The
paper keeps the output's luminance, takes the chroma from the content (filtered edge-aware under the
output's luminance so colour edges follow the new strokes), and finally moves the colour distribution
onto the style's by matching its mean and covariance. A near-monochrome style would be recoloured by
the content's chroma, so the step is skipped for those.

Images are ``(1, 3, H, W)`` float32 RGB tensors in [0, 1]; colour conversions are OpenCV's.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .filters import guided_filter

#: A style whose colours spread less than this (RGB in [0, 1]) off their main axis counts as
#: near-monochrome (see :func:`hue_spread`). Greyscale and uniformly tinted (sepia, cyanotype) images
#: lie on one line through the colour cube and measure about 0; among the papers' style images the
#: pencil and ink drawings measure 0.004 to 0.014 and every coloured painting 0.02 or more (the
#: bundled swirls 0.056).
MONOCHROME_SPREAD = 0.015


def _hwc(image: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` tensor to contiguous float32 ``(H, W, 3)``."""
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"expected an RGB image (1, 3, H, W), got {tuple(image.shape)}")
    return np.ascontiguousarray(image.detach().float().cpu()[0].permute(1, 2, 0).numpy())


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1)[None]


def ycrcb(image: torch.Tensor) -> torch.Tensor:
    """RGB ``(1, 3, H, W)`` in [0, 1] to YCrCb ``(1, 3, H, W)`` (chroma centred on 0.5), by OpenCV."""
    return _chw(cv2.cvtColor(_hwc(image), cv2.COLOR_RGB2YCrCb))


def rgb_from_ycrcb(image: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`ycrcb` (not clipped)."""
    return _chw(cv2.cvtColor(_hwc(image), cv2.COLOR_YCrCb2RGB))


def hue_spread(image: torch.Tensor) -> float:
    """Standard deviation of the colours of ``(1, 3, H, W)`` off their principal axis.

    ``sqrt`` of the two smaller eigenvalues of the RGB covariance: 0 when every pixel is a shade of
    one colour (grey or a tint: the colours fill one line), large when several hues appear. Plain
    chroma variance would call a sepia photograph colourful, since its chroma grows with brightness.
    """
    eig = np.linalg.eigvalsh(color_moments(image)[1])
    return float(np.sqrt(max(eig[0] + eig[1], 0.0)))


def is_monochrome(image: torch.Tensor, threshold: float = MONOCHROME_SPREAD) -> bool:
    """Whether ``image`` is greyscale or a single tint (:func:`hue_spread` below ``threshold``)."""
    return hue_spread(image) < threshold


def _sqrtm(cov: np.ndarray, inverse: bool, floor: float) -> np.ndarray:
    """Symmetric (inverse) square root of a 3x3 covariance; eigenvalues floored for flat images."""
    w, v = np.linalg.eigh(cov)
    w = np.maximum(w, floor)
    return (v * (w ** (-0.5 if inverse else 0.5))) @ v.T


def color_moments(image: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(3,)`` and covariance ``(3, 3)`` (float64) of the RGB values of ``(1, 3, H, W)``."""
    x = image.detach().double().cpu().reshape(3, -1).numpy()
    return x.mean(axis=1), np.cov(x, bias=True)


def match_moments(image: torch.Tensor, reference: torch.Tensor, *, floor: float = 1e-10) -> torch.Tensor:
    """Affinely map the colours of ``image`` so their mean and covariance equal ``reference``'s.

    ``x -> S_r^{1/2} S_x^{-1/2} (x - m_x) + m_r`` with symmetric square roots, the map that moves the
    least colour among those matching both moments. Not clipped, so the moments match exactly.

    Args:
        image: ``(1, 3, H, W)`` to recolour. reference: ``(1, 3, h, w)`` (any size).
        floor: smallest eigenvalue kept when inverting ``S_x`` (a flat image has a singular one).

    Returns:
        ``(1, 3, H, W)`` float32.
    """
    m_x, s_x = color_moments(image)
    m_r, s_r = color_moments(reference)
    a = _sqrtm(s_r, False, floor) @ _sqrtm(s_x, True, floor)
    x = image.detach().double().cpu().reshape(3, -1).numpy()
    y = a @ (x - m_x[:, None]) + m_r[:, None]
    return torch.from_numpy(y.reshape(image.shape)).float()


def transfer_chroma(output: torch.Tensor, content: torch.Tensor, *, radius: int = 4, eps: float = 1e-3) -> torch.Tensor:
    """``output``'s luminance with ``content``'s chroma, filtered edge-aware under that luminance.

    The guided filter (:func:`analogist.synthesis.filters.guided_filter`) makes the content's colour
    locally an affine function of the output's luminance, so hue boundaries snap to the edges the
    stylisation drew instead of the content's original ones.

    Args:
        output, content: ``(1, 3, H, W)`` RGB in [0, 1] of equal size.
        radius, eps: guided filter window radius (pixels) and regularisation.

    Returns:
        ``(1, 3, H, W)`` RGB clipped to [0, 1].
    """
    if output.shape != content.shape:
        raise ValueError(f"output {tuple(output.shape)} and content {tuple(content.shape)} differ in size")
    y = ycrcb(output)[:, :1]
    chroma = guided_filter(ycrcb(content)[:, 1:], y, radius=radius, eps=eps)
    return rgb_from_ycrcb(torch.cat([y, chroma], dim=1)).clamp(0.0, 1.0)


def postprocess(
    output: torch.Tensor,
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    radius: int = 4,
    eps: float = 1e-3,
    monochrome_threshold: float = MONOCHROME_SPREAD,
) -> torch.Tensor:
    """Section 3.5 colour post-processing of a stylised ``output``.

    Args:
        output, content: ``(1, 3, H, W)`` RGB in [0, 1]. style: ``(1, 3, Hs, Ws)``.
        radius, eps: of the guided filter in :func:`transfer_chroma`.
        monochrome_threshold: styles with :func:`hue_spread` below it are returned untouched.

    Returns:
        ``(1, 3, H, W)`` RGB in [0, 1].
    """
    if is_monochrome(style, monochrome_threshold):
        return output.detach().float().clamp(0.0, 1.0)
    mixed = transfer_chroma(output, content, radius=radius, eps=eps)
    return match_moments(mixed, style).clamp(0.0, 1.0)


__all__ = [
    "MONOCHROME_SPREAD",
    "ycrcb",
    "rgb_from_ycrcb",
    "hue_spread",
    "is_monochrome",
    "color_moments",
    "match_moments",
    "transfer_chroma",
    "postprocess",
]
