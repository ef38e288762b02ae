"""COAT's part-by-part colour step (analogist.synthesis.part_color)."""

from __future__ import annotations

import torch

from analogist.synthesis.part_color import part_color


def _scene(left: tuple[float, float, float], right: tuple[float, float, float], seed: int) -> torch.Tensor:
    """A 64-px image: two flat colour halves with a seeded texture and a dark bar across both."""
    g = torch.Generator().manual_seed(seed)
    img = torch.empty(1, 3, 64, 64)
    img[..., :32] = torch.tensor(left).view(1, 3, 1, 1)
    img[..., 32:] = torch.tensor(right).view(1, 3, 1, 1)
    img = img + 0.03 * torch.randn(1, 1, 64, 64, generator=g)
    img[..., 28:36, :] *= 0.4
    return img.clamp(0, 1)


def _identity(h: int, w: int) -> torch.Tensor:
    return torch.arange(h * w)


def _luma(x: torch.Tensor) -> torch.Tensor:
    return (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a @ b) / (a.norm() * b.norm()))


def test_each_part_takes_the_colour_of_its_match_and_keeps_its_structure() -> None:
    content = _scene((0.6, 0.6, 0.6), (0.6, 0.6, 0.6), 0)  # grey both sides
    style = _scene((0.8, 0.2, 0.2), (0.2, 0.3, 0.8), 1)  # red left, blue right
    ones = torch.ones(16 * 16)
    out = part_color(content, style, _identity(16, 16), ones, (16, 16), (16, 16), sigma=1.0)
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    left, right = out[..., 4:24, 4:24].mean((2, 3))[0], out[..., 4:24, 40:60].mean((2, 3))[0]
    assert left[0] > left[2] + 0.2 and right[2] > right[0] + 0.2  # red stays left, blue right
    assert _corr(_luma(out), _luma(content)) > 0.9  # the dark bar and the texture stay where they were


def test_swapped_matches_swap_the_colours() -> None:
    content = _scene((0.6, 0.6, 0.6), (0.6, 0.6, 0.6), 0)
    style = _scene((0.8, 0.2, 0.2), (0.2, 0.3, 0.8), 1)
    ys, xs = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    mirrored = (ys * 16 + (15 - xs)).reshape(-1)  # each cell matched to the other half
    out = part_color(content, style, mirrored, torch.ones(256), (16, 16), (16, 16), sigma=1.0)
    left = out[..., 4:24, 4:24].mean((2, 3))[0]
    assert left[2] > left[0] + 0.2  # the left half now takes the right half's blue


def test_unconfident_matches_barely_count() -> None:
    content = _scene((0.6, 0.6, 0.6), (0.6, 0.6, 0.6), 0)
    style = _scene((0.8, 0.2, 0.2), (0.2, 0.3, 0.8), 1)
    index = _identity(16, 16).reshape(16, 16).clone()
    weight = torch.ones(16, 16)
    index[4:12:2, 2:6] = 8 * 16 + 12  # scattered wrong matches into the blue half ...
    weight[4:12:2, 2:6] = 1e-3  # ... with no confidence
    out = part_color(content, style, index.reshape(-1), weight.reshape(-1), (16, 16), (16, 16), sigma=1.0)
    ref = part_color(content, style, _identity(16, 16), torch.ones(256), (16, 16), (16, 16), sigma=1.0)
    assert (out - ref).abs().max() < 0.03


def test_style_of_the_same_image_changes_little() -> None:
    content = _scene((0.7, 0.5, 0.3), (0.3, 0.5, 0.6), 2)
    out = part_color(content, content, _identity(16, 16), torch.ones(256), (16, 16), (16, 16))
    assert (out - content).abs().mean() < 0.02


def test_confined_parts_without_confident_matches_keep_their_colour() -> None:
    """Only the left half has confident matches: confined, the right half keeps the content's grey
    while the left half still turns red; unconfined, the right half moves too."""
    content = _scene((0.6, 0.6, 0.6), (0.6, 0.6, 0.6), 0)
    style = _scene((0.8, 0.2, 0.2), (0.8, 0.2, 0.2), 1)  # red everywhere
    weight = torch.zeros(16, 16)
    weight[:, :8] = 1.0
    args = (content, style, _identity(16, 16), weight.reshape(-1), (16, 16), (16, 16))
    confined = part_color(*args, sigma=1.0, confine=0.5)
    free = part_color(*args, sigma=1.0)
    right = (slice(None), slice(None), slice(4, 24), slice(48, 60))
    assert (confined[right] - content[right]).abs().mean() < 0.01
    assert (free[right] - content[right]).abs().mean() > 0.05
    left = confined[..., 4:24, 4:20].mean((2, 3))[0]
    assert left[0] > left[2] + 0.2
