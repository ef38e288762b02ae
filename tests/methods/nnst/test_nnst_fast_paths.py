"""NNST-D's shortcuts give the numbers of the plain computation: the style subset drawn before the
hypercolumns are stacked, query rows instead of columns, the decoder's first layer applied to the
style samples before the gather, the fp32 channels-last network, and fewer quarter turns of the style."""

from __future__ import annotations

import pytest
import torch

from analogist.features import get_backbone
from analogist.features.hypercolumn import Extractor, grid_size
from analogist.matching.hypercolumn import flatten
from analogist.methods.nnst.samples import guide_at, style_samples, subsample
from analogist.synthesis import pyramid
from analogist.synthesis.decoder import Decoder, DecoderConfig


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor(get_backbone("vgg16-hed"), bf16=False)


def _stacked_then_subset(
    ex: Extractor, style: torch.Tensor, turns: int, keep: int, seed: int, guide: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: every hypercolumn of every turn stacked, then the seeded subset taken."""
    feats, guides = [], []
    for k in range(turns):
        image = torch.rot90(style, k, dims=(2, 3))
        feats.append(flatten(ex.hyper(image)))
        guides.append(guide_at(torch.rot90(guide, k, dims=(2, 3)), grid_size(image)))
    all_feats, all_guides = torch.cat(feats, dim=1), torch.cat(guides, dim=1)
    idx = subsample(all_feats.shape[1], keep, torch.Generator().manual_seed(seed))
    if idx is None:
        return all_feats, all_guides
    return all_feats[:, idx], all_guides[:, idx]


@pytest.mark.parametrize(("turns", "keep"), [(4, 40), (2, 40), (1, 25), (4, 10_000)])
def test_style_subset_drawn_before_stacking_is_the_same(extractor: Extractor, turns: int, keep: int) -> None:
    gen = torch.Generator().manual_seed(1)
    style, guide = torch.rand(1, 3, 36, 27, generator=gen), torch.rand(1, 3, 36, 27, generator=gen)
    got = style_samples(
        extractor,
        style,
        rotations=turns > 1,
        turns=turns,
        max_samples=keep,
        generator=torch.Generator().manual_seed(5),
        guide=guide,
    )
    feats, guides = _stacked_then_subset(extractor, style, turns, keep, 5, guide)
    assert got.feats.shape == (2688, min(keep, 9 * 7 * turns))
    assert torch.equal(got.feats, feats) and torch.equal(got.guide, guides)


def test_query_rows_are_the_hypercolumn(extractor: Extractor) -> None:
    image = torch.rand(1, 3, 45, 38, generator=torch.Generator().manual_seed(2))
    columns = flatten(extractor.hyper(image))
    assert torch.equal(extractor.hyper_rows(image).T, columns)
    fast = Extractor(extractor.backbone, bf16=False, channels_last=True)
    assert fast.ops is not extractor.ops  # its own copy, the shared network untouched
    assert torch.allclose(fast.hyper_rows(image).T, columns, rtol=1e-3, atol=1e-5)


def test_decoder_embedding_commutes_with_the_gather() -> None:
    torch.manual_seed(0)
    dec = Decoder(DecoderConfig(reduce=12, hidden=8, convs=3))
    for p in dec.parameters():  # away from the flat-grey start, so every branch matters
        torch.nn.init.normal_(p, std=0.5)
    samples = torch.rand(2688, 30)
    idx = torch.randint(30, (7 * 5,))
    size = (27, 19)
    direct = dec(samples[:, idx].reshape(1, 2688, 7, 5), size)
    embedded = dec.embed(samples[None, :, None, :])[0, :, 0]
    via = pyramid.collapse(dec.embedded_bands(embedded[:, idx].reshape(1, 12, 7, 5), size))
    assert direct.std() > 0.1 and torch.allclose(direct, via, atol=1e-5)


def test_turns_are_checked() -> None:
    from analogist.errors import InputError
    from analogist.methods.nnst import preset

    assert preset("decoder", turns=2).turns == 2
    for bad in (0, 5):
        with pytest.raises(InputError, match="turns"):
            preset("decoder", turns=bad)
