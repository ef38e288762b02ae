"""int8 nearest-neighbour products (NNST-D's ``precision="int8"``) against the float32 search."""

from __future__ import annotations

import pytest
import torch

from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image
from analogist.matching.hypercolumn import Keys, centre_normalise, match
from analogist.matching.int8 import int8_product, quantise_rows
from analogist.methods.nnst import StylizeParams, preset, stylize


def _features(c: int, n: int, seed: int) -> torch.Tensor:
    """Sparse non-negative columns ``(c, n)`` with a few large components, like VGG activations."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(c, n, generator=g).relu_()
    return x * torch.rand(c, 1, generator=g).pow(4) * 10


def test_quantise_rows_error_is_half_a_step() -> None:
    x = torch.randn(7, 33, generator=torch.Generator().manual_seed(0))
    q, scale = quantise_rows(x)
    assert q.dtype == torch.int8 and q.abs().max() == 127
    assert ((q.float() * scale[:, None] - x).abs() <= scale[:, None] / 2 + 1e-6).all()
    zero_q, zero_scale = quantise_rows(torch.zeros(2, 5))  # no division by zero
    assert (zero_q == 0).all() and (zero_scale > 0).all()


@pytest.mark.parametrize(("n", "c", "m"), [(1, 5, 3), (17, 40, 9), (64, 300, 130)])
def test_int8_product_is_the_integer_product(n: int, c: int, m: int) -> None:
    g = torch.Generator().manual_seed(n)
    a = torch.randint(-127, 128, (n, c), generator=g, dtype=torch.int8)
    b = torch.randint(-127, 128, (m, c), generator=g, dtype=torch.int8).T  # the (N, C)-rows layout of Keys
    assert torch.equal(int8_product(a, b), a.double().matmul(b.double()).float())


def test_int8_match_finds_the_float32_neighbours() -> None:
    keys_f = _features(512, 1500, 0)
    queries = _features(512, 400, 1)
    exact = match(queries, Keys.build(keys_f))
    approx = match(queries, Keys.build(keys_f, dtype=torch.int8))
    unit_q, unit_k = centre_normalise(queries.clone()), centre_normalise(keys_f.clone())
    best = (unit_q * unit_k[:, exact]).sum(0)
    found = (unit_q * unit_k[:, approx]).sum(0)
    assert (exact == approx).float().mean() > 0.9
    assert (best - found).max() < 0.01 and (best - found).mean() < 1e-3


def test_int8_match_finds_identical_vectors_and_respects_guides() -> None:
    keys_f = _features(256, 300, 2)
    assert torch.equal(match(keys_f, Keys.build(keys_f, dtype=torch.int8)), torch.arange(300))
    # two labels: every query must take a key of its own label, as in the float32 search
    labels = (torch.arange(300) % 2).float()
    guide = torch.stack([labels, 1 - labels, torch.zeros(300)])
    queries = _features(256, 50, 3)
    qlabels = (torch.arange(50) % 2).float()
    qguide = torch.stack([qlabels, 1 - qlabels, torch.zeros(50)])
    idx = match(queries, Keys.build(keys_f, guide, dtype=torch.int8), query_guide=qguide)
    assert torch.equal(labels[idx], qlabels)


def test_precision_int8_is_accepted_and_others_refused() -> None:
    assert StylizeParams(precision="int8").precision == "int8"
    with pytest.raises(InputError, match="precision must be"):
        StylizeParams(precision="int4")


def test_decoder_preset_in_int8_is_close_to_float32() -> None:
    content = load_image(example_path("astronaut.jpg"), 64)
    style = load_image(example_path("swirls.jpg"), 64)
    exact = stylize(content, style, preset("decoder", precision="fp32", scales=2))
    fast = stylize(content, style, preset("decoder", precision="int8", scales=2))
    assert fast.shape == exact.shape and (fast - exact).abs().mean() < 0.02
    assert torch.equal(fast, stylize(content, style, preset("decoder", precision="int8", scales=2)))
