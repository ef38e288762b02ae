"""Colour post-processing of NNST (section 3.5): moments, chroma transfer, monochrome styles."""

from __future__ import annotations

import numpy as np
import torch

from analogist.data import example_path
from analogist.io import load_image
from analogist.synthesis import color


def _smooth_image(seed: int, lo: float, hi: float, size: int = 48) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, 6, 6, generator=g) * (hi - lo) + lo
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def test_match_moments_gives_the_reference_mean_and_covariance() -> None:
    image, reference = _smooth_image(0, 0.0, 1.0), _smooth_image(1, 0.2, 0.7, 64)
    out = color.match_moments(image, reference)
    m_o, s_o = color.color_moments(out)
    m_r, s_r = color.color_moments(reference)
    np.testing.assert_allclose(m_o, m_r, atol=1e-6)
    np.testing.assert_allclose(s_o, s_r, atol=1e-6)


def test_postprocess_matches_the_style_colour_distribution() -> None:
    content = load_image(example_path("astronaut.jpg"), 64)
    style = load_image(example_path("swirls.jpg"), 64)
    output = 0.5 * content + 0.5 * content.mean(dim=1, keepdim=True)  # a washed-out "stylisation"
    out = color.postprocess(output, content, style)
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    m_o, s_o = color.color_moments(out)
    m_s, s_s = color.color_moments(style)
    m_i, s_i = color.color_moments(output)
    # only clipping to [0, 1] keeps the match from being exact
    assert np.abs(m_o - m_s).max() < 0.03 < np.abs(m_i - m_s).max()
    assert np.abs(s_o - s_s).max() < 0.25 * np.abs(s_s).max() < np.abs(s_i - s_s).max()


def test_transfer_chroma_keeps_luminance_and_takes_content_colour() -> None:
    output = torch.full((1, 3, 32, 32), 0.5)
    output[..., 16:] = 0.3  # grey output with one vertical edge
    content = torch.zeros(1, 3, 32, 32)
    content[:, 0] = 0.6  # a red content
    content[:, 1:] = 0.2
    out = color.transfer_chroma(output, content, radius=3)
    np.testing.assert_allclose(color.ycrcb(out)[:, 0].numpy(), color.ycrcb(output)[:, 0].numpy(), atol=2e-3)
    np.testing.assert_allclose(color.ycrcb(out)[:, 1:].numpy(), color.ycrcb(content)[:, 1:].numpy(), atol=2e-3)


def test_monochrome_style_is_left_alone() -> None:
    content = load_image(example_path("astronaut.jpg"), 48)
    grey = content.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    sepia = grey * torch.tensor([1.0, 0.85, 0.65]).view(1, 3, 1, 1)
    output = _smooth_image(3, 0.2, 0.8)
    assert color.is_monochrome(grey) and color.is_monochrome(sepia)
    assert not color.is_monochrome(load_image(example_path("swirls.jpg"), 48))
    assert torch.equal(color.postprocess(output, content, sepia), output)


def test_ycrcb_round_trip() -> None:
    x = _smooth_image(4, 0.0, 1.0)
    assert torch.allclose(color.rgb_from_ycrcb(color.ycrcb(x)), x, atol=1e-3)  # OpenCV rounds its coefficients
