"""WLS (Farbman 2008) and guided filter: smoothing flat noise, keeping edges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analogist.synthesis.filters import guided_filter, wls_filter, wls_matrix


def _step(noise: float = 0.05) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    img = torch.full((1, 1, 40, 40), 0.2)
    img[..., 20:] = 0.8
    return (img + noise * torch.randn(img.shape, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("filt", [lambda x, g: wls_filter(x, g, lam=1.0), lambda x, g: guided_filter(x, g, 4, 1e-2)])
def test_smooths_noise_keeps_step_edge(filt) -> None:
    clean = torch.full((1, 1, 40, 40), 0.2)
    clean[..., 20:] = 0.8
    noisy = _step()
    out = filt(noisy, clean)
    assert out.shape == noisy.shape
    flat = out[..., 3:37, 3:17]
    assert flat.std() < 0.3 * noisy[..., 3:37, 3:17].std()  # noise mostly gone
    edge = out[..., 10:30, 21].mean() - out[..., 10:30, 18].mean()
    assert edge > 0.5  # the 0.6 step survives, sharp within a few pixels


def test_wls_preserves_constants_and_is_symmetric() -> None:
    guide = torch.rand(1, 3, 9, 11)
    m = wls_matrix(guide)
    assert abs(m - m.T).max() < 1e-9
    np.testing.assert_allclose(m @ np.ones(99), np.ones(99), atol=1e-9)  # rows of I + L sum to 1
    const = torch.full((1, 2, 9, 11), 0.3)
    assert torch.allclose(wls_filter(const, guide), const, atol=1e-5)


def test_wls_stronger_lambda_is_flatter() -> None:
    noisy = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    weak, strong = wls_filter(noisy, lam=0.1), wls_filter(noisy, lam=5.0)
    assert strong.std() < weak.std() < noisy.std()


def test_size_mismatch_is_refused() -> None:
    with pytest.raises(ValueError):
        wls_filter(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 9, 8))
