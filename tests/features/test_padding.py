"""Issue 24: no stripes along the frame. NNST's VGG16 Extractor and the NNST-D decoder pad their 3x3
convolutions by reflection, so a feature at the border looks like one inside."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analogist.errors import InputError
from analogist.features import get_backbone
from analogist.features.hypercolumn import Extractor, ReflectConv2d, extractor_for
from analogist.methods.nnst.params import PADDING
from analogist.synthesis.decoder import Decoder, DecoderConfig, EqualConv2d


@pytest.fixture(scope="module")
def backbone():  # type: ignore[no-untyped-def]
    return get_backbone("vgg16-hed")


def test_reflect_conv_is_a_conv_of_the_reflected_input() -> None:
    g = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(4, 5, 3, padding=1)
    x = torch.randn(2, 4, 7, 6, generator=g)
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias)
    torch.testing.assert_close(ReflectConv2d(conv)(x), expected)
    # a side of one pixel cannot reflect: replicated
    line = torch.randn(1, 4, 1, 5, generator=g)
    expected = F.conv2d(F.pad(line, (1, 1, 1, 1), mode="replicate"), conv.weight, conv.bias)
    torch.testing.assert_close(ReflectConv2d(conv)(line), expected)


def test_reflect_conv_shares_the_weights() -> None:
    conv = nn.Conv2d(3, 4, 3, padding=1)
    assert ReflectConv2d(conv).weight is conv.weight
    with pytest.raises(ValueError, match="3x3"):
        ReflectConv2d(nn.Conv2d(3, 4, 1))


def _spread(hyper: torch.Tensor) -> float:
    """Largest difference of any hypercolumn from the centre one, over the centre's size."""
    h, w = hyper.shape[-2:]
    centre = hyper[0, :, h // 2, w // 2]
    return float((hyper[0] - centre[:, None, None]).abs().amax() / centre.abs().amax())


@pytest.mark.parametrize("channels_last", [False, True])
def test_a_uniform_image_has_the_same_hypercolumn_everywhere(backbone, channels_last: bool) -> None:  # type: ignore[no-untyped-def]
    grey = torch.full((1, 3, 48, 40), 0.4)
    reflect = Extractor(backbone, bf16=False, channels_last=channels_last, padding="reflect").hyper(grey)
    zeros = Extractor(backbone, bf16=False, channels_last=channels_last, padding="zeros").hyper(grey)
    assert _spread(reflect) < 1e-4
    assert _spread(zeros) > 0.1  # VGG16's own zero padding: the frame's hypercolumns stand apart


def test_nnst_reflects_and_the_default_is_the_network_as_trained(backbone) -> None:  # type: ignore[no-untyped-def]
    assert PADDING == "reflect"
    assert extractor_for(backbone, "fp32").padding == "zeros"  # COAT's, unchanged
    assert extractor_for(backbone, "fp32", padding="reflect").padding == "reflect"


def test_the_padding_leaves_the_backbone_alone(backbone) -> None:  # type: ignore[no-untyped-def]
    Extractor(backbone, bf16=False, padding="reflect")
    assert all(type(m) is not ReflectConv2d for m in backbone.ops.values())
    assert any(isinstance(m, nn.Conv2d) and m.padding == (1, 1) for m in backbone.ops.values())
    with pytest.raises(InputError, match="padding"):
        Extractor(backbone, bf16=False, padding="circular")


def test_tiny_images_run_and_gradients_flow(backbone) -> None:  # type: ignore[no-untyped-def]
    ex = Extractor(backbone, bf16=False, channels_last=True, padding="reflect")
    image = torch.rand(1, 3, 9, 12, requires_grad=True)  # relu4 maps of 2x2 and, after ceil pooling, 1 px sides
    rows = ex.rows(image)
    sum(r.square().sum() for r in rows).backward()
    assert image.grad is not None and torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0
    assert ex.hyper(torch.rand(1, 3, 4, 4)).shape[-2:] == (1, 1)


def test_the_decoder_draws_no_frame() -> None:
    """A uniform target decodes to bands that repeat one tile (4x4 px in the finest, 2x2 in the next:
    the sub-pixel layout) up to the borders, the quarter band to one colour."""
    torch.manual_seed(0)
    dec = Decoder(DecoderConfig(in_channels=8, reduce=None, hidden=8, convs=2))
    with torch.no_grad():
        for m in dec.modules():
            if isinstance(m, EqualConv2d):
                m.weight.normal_()
                m.bias.normal_()
        bands = dec.bands(torch.full((1, 8, 6, 5), 0.7), (24, 20))
    for band, k in zip(bands[:3], (4, 2, 1)):
        tiles = band[0].unfold(1, k, k).unfold(2, k, k)  # (3, h, w, k, k)
        inside = tiles[:, 2:3, 2:3]
        assert float(inside.abs().amax()) > 1e-3
        torch.testing.assert_close(tiles, inside.expand_as(tiles), atol=1e-5, rtol=0)


def test_equal_conv_reflects_and_replicates_one_pixel_sides() -> None:
    conv = EqualConv2d(3, 2, 3, padding=1, reflect=True)
    x = torch.randn(1, 3, 5, 4)
    w = conv.weight * conv.factor
    torch.testing.assert_close(conv(x), F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w, conv.bias))
    one = torch.randn(1, 3, 1, 1)
    torch.testing.assert_close(conv(one), F.conv2d(F.pad(one, (1, 1, 1, 1), mode="replicate"), w, conv.bias))
    assert not EqualConv2d(3, 2, 1, reflect=True).reflect  # nothing to pad
