"""Every method, in every form, returns its results on its inputs' device (one run per device present)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import analogist
from analogist.data import example_path
from analogist.io import load_image
from analogist.methods.coat import COATParams, coat
from analogist.methods.nnst import preset, stylize
from analogist.methods.samnet import SAMNetParams, sam_net


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    return load_image(example_path("cat.jpg"), 64), load_image(example_path("cat_painting.jpg"), 64)


def _tensors(result: object) -> dict[str, torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return {"result": result}
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}  # type: ignore[arg-type]
    return {k: v for k, v in fields.items() if isinstance(v, torch.Tensor)}


def _check(result: object, device: torch.device, *shapes: tuple[int, ...]) -> None:
    tensors = _tensors(result)
    assert tensors, "the result holds no tensor"
    wrong = {k: str(v.device) for k, v in tensors.items() if v.device.type != device.type}
    assert not wrong, f"results not on {device}: {wrong}"
    images = [v for v in tensors.values() if v.dim() == 4 and v.shape[1] == 3]
    for image in images:
        assert tuple(image.shape[-2:]) in {tuple(s[-2:]) for s in shapes} and torch.isfinite(image).all()
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_analogy_and_buddies(pair: tuple[torch.Tensor, torch.Tensor], device: torch.device) -> None:
    a, b = (x.to(device) for x in pair)
    _check(
        analogist.deep_image_analogy(a, b, analogist.AnalogyParams(size=None, lbfgs_iters=2)), device, a.shape, b.shape
    )
    _check(analogist.neural_best_buddies(a, b, analogist.BuddiesParams(size=None, k=5)), device, a.shape)


@pytest.mark.parametrize("form", ["training-free", "learned"])
def test_nnst(pair: tuple[torch.Tensor, torch.Tensor], device: torch.device, form: str) -> None:
    a, b = (x.to(device) for x in pair)
    params = preset("fast", steps=2, split_steps=1) if form == "training-free" else preset("decoder")
    assert params.form == form
    _check(stylize(a, b, params), device, a.shape)


@pytest.mark.parametrize("form", ["training-free", "learned"])
def test_samnet(pair: tuple[torch.Tensor, torch.Tensor], device: torch.device, form: str) -> None:
    a, b = (x.to(device) for x in pair)
    result = sam_net(a, b, SAMNetParams(size=None, iters=1, form=form, init="identity"))
    assert result.form == form
    _check(result, device, a.shape)


@pytest.mark.parametrize("form", ["training-free", "learned"])
def test_coat(pair: tuple[torch.Tensor, torch.Tensor], device: torch.device, form: str) -> None:
    a, b = (x.to(device) for x in pair)
    result = coat(a, b, COATParams(form=form, steps=2, fine_steps=2, fill=0.0, learned_side=48))
    _check(result, device, a.shape)
