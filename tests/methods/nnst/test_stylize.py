"""Neural Neighbor Style Transfer: matching properties, reconstruction, guidance, determinism, CLI errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from analogist.cli import main
from analogist.data import example_path
from analogist.errors import InputError
from analogist.features import get_backbone
from analogist.features.hypercolumn import Extractor
from analogist.io import load_image, save_image
from analogist.matching.hypercolumn import Keys, flatten, match
from analogist.methods.nnst import StylizeParams, stylize
from analogist.methods.nnst.samples import guide_at, nearest_targets, style_samples

#: tiny, quick settings: two scales, few steps, fp32 so exact comparisons hold on every CPU
TINY = StylizeParams(scales=2, steps=40, split_steps=10, rotations=False, color=False, precision="fp32")


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor(get_backbone("vgg16-hed"), bf16=False)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_hypercolumns_have_2688_channels_at_quarter_resolution(extractor: Extractor) -> None:
    h = extractor.hyper(torch.rand(1, 3, 30, 45))
    assert h.shape == (1, 2688, 8, 12)


def test_every_target_is_a_style_feature(extractor: Extractor) -> None:
    content = load_image(example_path("astronaut.jpg"), 48)
    style = load_image(example_path("swirls.jpg"), 40)
    styles = style_samples(extractor, style, rotations=True, max_samples=10**6, generator=_gen())
    target = nearest_targets(extractor.hyper(content), styles, Keys.build(styles.feats), query_guide=None, params=TINY)
    t, s = flatten(target).T, styles.feats.T
    assert (t[:, None, :] == s[None, :, :]).all(dim=2).any(dim=1).all()
    assert len(torch.unique(t, dim=0)) > 5  # a real mix of style features, not one repeated


def test_rotations_enlarge_the_style_set_four_fold(extractor: Extractor) -> None:
    style = load_image(example_path("cat.jpg"), 48)  # not square: rotations change the grid's shape
    one = style_samples(extractor, style, rotations=False, max_samples=10**6, generator=_gen())
    four = style_samples(extractor, style, rotations=True, max_samples=10**6, generator=_gen())
    assert four.feats.shape[1] == 4 * one.feats.shape[1]
    assert torch.equal(four.feats[:, : one.feats.shape[1]], one.feats)
    # a capped set is a seeded subset of the full one
    capped = style_samples(extractor, style, rotations=True, max_samples=50, generator=_gen())
    assert capped.feats.shape[1] == 50
    assert (capped.feats.T[:, None] == four.feats.T[None]).all(dim=2).any(dim=1).all()


def test_centred_cosine_matching_finds_a_feature_itself() -> None:
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(16, 300, generator=g) + 5.0  # a common offset that centring removes
    idx = match(keys[:, 40:90] * 3.0, Keys.build(keys), chunk=7)
    assert torch.equal(idx, torch.arange(40, 90))


def test_guidance_restricts_matches_to_the_same_label(extractor: Extractor) -> None:
    content = load_image(example_path("astronaut.jpg"), 64)
    style = load_image(example_path("swirls.jpg"), 64)
    red, green = torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1), torch.tensor([0, 1.0, 0]).view(1, 3, 1, 1)
    c_guide = red.expand(1, 3, 64, 64).clone()
    c_guide[..., 40:] = green  # content: left red, right green (on the 4-px feature grid)
    s_guide = red.expand(1, 3, 64, 64).clone()
    s_guide[..., 8:, :] = green  # style: a thin red band on top, the rest green
    styles = style_samples(extractor, style, rotations=False, max_samples=10**6, generator=_gen(), guide=s_guide)
    qf = extractor.hyper(content)
    q_guide = guide_at(c_guide, qf.shape[-2:])
    idx = match(flatten(qf), Keys.build(styles.feats, styles.guide), query_guide=q_guide, w_cos=0.5, w_guide=0.5)
    assert torch.equal(styles.guide[:, idx], q_guide)
    unguided = match(flatten(qf), Keys.build(styles.feats))
    assert not torch.equal(styles.guide[:, unguided], q_guide)  # the guide made the difference


def test_content_equal_to_style_reproduces_the_content() -> None:
    image = load_image(example_path("astronaut.jpg"), 64)
    # a larger step than the paper's 2e-3 so that a few dozen steps converge
    out = stylize(image, image, replace(TINY, steps=40, lr=1e-2))
    start = torch.nn.functional.interpolate(  # the output's start: content with its finest levels zeroed
        torch.nn.functional.interpolate(image, size=(8, 8), mode="area"), size=(64, 64), mode="bilinear"
    )
    err, err0 = (out - image).abs().mean(), (start - image).abs().mean()
    assert out.shape == image.shape
    assert err < 0.05 and err < 0.5 * err0


def test_stylize_is_deterministic_and_in_range(device: torch.device) -> None:
    content = load_image(example_path("cat.jpg"), 48).to(device)
    style = load_image(example_path("swirls.jpg"), 48).to(device)
    params = replace(TINY, steps=5, split_steps=3, rotations=True, color=True, max_style_samples=300, seed=3)
    a, b = stylize(content, style, params), stylize(content, style, params)
    assert a.device.type == device.type
    # bitwise on the CPU; cuDNN may pick non-deterministic kernels
    assert torch.equal(a, b) if device.type == "cpu" else torch.allclose(a, b, atol=1e-2)
    assert a.shape == content.shape and 0 <= a.min() and a.max() <= 1
    assert not torch.allclose(a, content, atol=0.02)


def test_bf16_path_runs() -> None:
    content = load_image(example_path("cat.jpg"), 40)
    out = stylize(content, content, replace(TINY, steps=3, split_steps=2, precision="bf16"))
    assert torch.isfinite(out).all() and out.shape == content.shape


def test_parameters_are_checked() -> None:
    with pytest.raises(InputError):
        StylizeParams(alpha=1.5)
    with pytest.raises(InputError):
        StylizeParams(backbone="efficientnet-lite0")
    image = torch.rand(1, 3, 32, 32)
    with pytest.raises(InputError):
        stylize(image, image, TINY, content_guide=image)
    with pytest.raises(InputError):
        stylize(image[:, :2], image, TINY)


@pytest.mark.parametrize("extra", [[], ["--content-guide", "G"]])
def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    good = str(example_path("cat.jpg"))
    extra = [str(bad) if e == "G" else e for e in extra]
    assert main(["stylize", str(bad) if not extra else good, good, "-o", str(tmp_path / "o.png"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_cli_refuses_to_overwrite_an_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = tmp_path / "c.png"
    save_image(content, torch.rand(1, 3, 32, 32))
    assert main(["stylize", str(content), str(example_path("swirls.jpg")), "-o", str(content)]) == 2
    assert "error:" in capsys.readouterr().err


def test_cli_writes_a_stylised_image(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "stylize",
                str(example_path("cat.jpg")),
                str(example_path("swirls.jpg")),
                "-o",
                str(out),
                "--size",
                "40",
                "--steps",
                "3",
                "--preset",
                "fast",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    assert load_image(out).shape == (1, 3, 27, 40)
