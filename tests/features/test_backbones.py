"""Backbones: real weights load correctly, layers are named and strided as documented."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analogist.data import example_path
from analogist.errors import InputError, WeightsNotFoundError
from analogist.features import INPUT, get_backbone, hed_edges
from analogist.features.vgg import CAFFE_MEAN_BGR, VGG_BLOCKS, vgg_ops
from analogist.io import load_image, resize_longer


def test_efficientnet_classifies_the_cat():
    net = get_backbone("efficientnet-lite0")
    img = torch.nn.functional.interpolate(
        load_image(example_path("cat.jpg")), size=(224, 224), mode="bilinear", antialias=True
    )
    probs = net.classify(img).softmax(1)[0]
    top = int(probs.argmax())
    assert 281 <= top <= 285, f"ImageNet class {top} is not a domestic cat (281-285)"
    assert probs[281:286].sum() > 0.6


def test_hed_preprocessing_is_bgr_minus_caffe_mean():
    net = get_backbone("vgg16-hed")
    pixel = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)  # R, G, B
    expected = torch.tensor(
        [0.0 * 255 - CAFFE_MEAN_BGR[0], 0.5 * 255 - CAFFE_MEAN_BGR[1], 1.0 * 255 - CAFFE_MEAN_BGR[2]]
    )  # B, G, R
    assert torch.allclose(net.preprocess(pixel).flatten(), expected, atol=1e-4)
    assert torch.allclose(net.deprocess(net.preprocess(pixel)), pixel, atol=1e-6)


def _shapes_image(h: int = 96, w: int = 128) -> tuple[torch.Tensor, np.ndarray]:
    """Flat coloured shapes on a flat background, and a mask of their boundaries."""
    import cv2

    img = np.full((h, w, 3), (200, 190, 170), np.uint8)
    cv2.rectangle(img, (15, 20), (60, 75), (40, 60, 160), -1)
    cv2.circle(img, (95, 50), 22, (170, 40, 30), -1)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    edges = cv2.dilate(cv2.Canny(gray, 10, 30), np.ones((3, 3), np.uint8)) > 0
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255, edges


def test_hed_weights_detect_edges_where_they_are():
    # The whole chain — h5 kernel layout, BGR order, mean subtraction, side outputs — must be right for
    # HED to answer on the boundaries of flat shapes and stay quiet inside them.
    img, edges = _shapes_image()
    prob = hed_edges(img)[0, 0].numpy()
    import cv2

    flat = cv2.erode((~edges).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert prob[edges].mean() > 0.5
    assert prob[flat].mean() < 0.1


@pytest.mark.parametrize("name,size", [("vgg16-hed", (50, 75)), ("efficientnet-lite0", (50, 75))])
def test_layer_names_strides_and_shapes(name, size):
    net = get_backbone(name)
    img = torch.rand(1, 3, *size)
    feats = net.extract(img, net.names)
    assert list(feats) == list(net.names)
    for layer, f in feats.items():
        s = net.stride(layer)
        assert f.shape[1] == net.channels(layer)
        # VGG-HED pools with Keras "same" padding and EfficientNet pads "same": both round up
        assert f.shape[-2:] == (math.ceil(size[0] / s), math.ceil(size[1] / s)), layer
        assert not f.requires_grad
    if name == "vgg16-hed":
        assert [net.stride(f"relu{b}_1") for b in range(1, 6)] == [1, 2, 4, 8, 16]
    else:
        assert [net.stride(f"stage{i}") for i in range(1, 8)] == [2, 4, 8, 16, 16, 32, 32]


@pytest.mark.parametrize(
    "name,start,end",
    [("vgg16-hed", "relu2_1", "relu4_1"), ("vgg16-hed", INPUT, "relu1_1"), ("efficientnet-lite0", "stage2", "stage5")],
)
def test_subnet_maps_one_layer_to_another(name, start, end):
    net = get_backbone(name)
    img = torch.rand(1, 3, 40, 56)
    feats = net.extract(img, [start, end])
    with torch.no_grad():
        out = net.subnet(start, end)(feats[start])
    assert torch.allclose(out, feats[end], atol=1e-4, rtol=1e-4)


def test_gradients_flow_only_when_asked():
    net = get_backbone("vgg16-hed")
    img = torch.rand(1, 3, 32, 32, requires_grad=True)
    f = net(img, ["relu2_1"])["relu2_1"]
    f.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in net.parameters())


def test_backbones_are_cached():
    assert get_backbone("vgg16-hed") is get_backbone("vgg16-hed")


def test_unknown_backbone_and_layer():
    with pytest.raises(InputError, match="unknown backbone"):
        get_backbone("resnet-9000")
    with pytest.raises(InputError, match="no layer"):
        get_backbone("vgg16-hed").extract(torch.rand(1, 3, 16, 16), ["relu9_9"])


TORCHVISION_CONV_INDICES = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
}


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_torchvision_checkpoint_layout_loads(tmp_path, arch):
    # A small synthetic state dict in torchvision's exact layout stands in for the real checkpoint.
    ops, _ = vgg_ops(arch, ceil_pool=False)
    convs = [m for m in ops.values() if isinstance(m, torch.nn.Conv2d)]
    gen = torch.Generator().manual_seed(1)
    state = {}
    for idx, conv in zip(TORCHVISION_CONV_INDICES[arch], convs):
        state[f"features.{idx}.weight"] = torch.randn(conv.weight.shape, generator=gen) * 0.01
        state[f"features.{idx}.bias"] = torch.randn(conv.bias.shape, generator=gen) * 0.01
    state["classifier.0.weight"] = torch.zeros(4, 4)  # the classifier is ignored
    path = tmp_path / f"{arch}-synthetic.pth"
    torch.save(state, path)
    net = get_backbone(arch, weights=path)
    assert net.source == str(path)
    assert torch.equal(net.ops["conv1_1"].weight, state["features.0.weight"])
    last = TORCHVISION_CONV_INDICES[arch][-1]
    assert torch.equal(net.ops[f"conv5_{VGG_BLOCKS[arch][-1]}"].weight, state[f"features.{last}.weight"])
    img = torch.rand(1, 3, 33, 47)
    assert net.extract(img, ["relu5_1"])["relu5_1"].shape[-2:] == (33 // 16, 47 // 16)  # torchvision floors


def test_missing_torchvision_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("ANALOGIST_VGG19_WEIGHTS", raising=False)
    monkeypatch.delenv("ANALOGIST_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsNotFoundError) as exc:
        get_backbone("vgg19", download=False)
    msg = str(exc.value)
    assert "vgg19-dcbb9e9d.pth" in msg and str(tmp_path) in msg and "vgg16-hed" in msg
    assert "\n" not in msg
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        get_backbone("vgg19", weights=tmp_path / "nope.pth")


def test_resize_then_extract_on_bundled_image():
    img = resize_longer(load_image(example_path("cat.jpg")), 64)
    feats = get_backbone("vgg16-hed").extract(img)
    assert set(feats) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
