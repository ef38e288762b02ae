"""Keyframe blending of ``analogist video``: the screened Poisson solve, the per-pixel selection by
accumulated error and the gradient-domain composite (no seam, no ghost), and the decoder preset's fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cli_helpers import run_cli

import analogist.methods.nnst  # noqa: F401  (methods.nnst below)
from analogist import methods
from analogist.apps.video import pipeline
from analogist.apps.video.blend import blend, crossfade, poisson, selection
from analogist.apps.video.propagate import Rendering, Settings
from analogist.cli import video as cli_video
from analogist.data import example_path
from analogist.io import load_image, save_image
from analogist.synthesis.poisson import gradients, screened_poisson


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return load_image(example_path("astronaut.jpg"), 96)


def _rendering(styled: torch.Tensor, error: torch.Tensor | float, weight: float = 1.0) -> Rendering:
    h, w = styled.shape[-2:]
    return Rendering(styled, torch.full((1, 1, h, w), weight), torch.zeros(1, 1, h, w) + error)


def test_poisson_solve_of_an_images_own_gradients_returns_the_image(image: torch.Tensor) -> None:
    gx, gy = gradients(image)
    assert (screened_poisson(gx, gy, image, 0.01) - image).abs().max() < 1e-5
    # anchored only to the image's mean colour, the gradients alone must rebuild every detail
    flat = image.mean((-2, -1), keepdim=True).expand_as(image)
    assert (screened_poisson(gx, gy, flat, 1e-6) - image).abs().max() < 5e-3
    # and a strong anchor does pull towards it (the data term works)
    assert (screened_poisson(gx, gy, flat, 10.0) - flat).abs().mean() < 0.3 * (image - flat).abs().mean()


def test_a_frame_where_both_sources_agree_is_that_source(image: torch.Tensor) -> None:
    a = _rendering(image, torch.rand(1, 1, *image.shape[-2:], generator=torch.Generator().manual_seed(0)), 0.3)
    b = _rendering(image, 0.2, 0.9)
    for t in (0.1, 0.5, 0.9):
        assert (poisson(a, b, t, Settings()) - image).abs().max() < 1e-4


def test_a_hard_split_between_sources_of_different_colour_leaves_no_seam(image: torch.Tensor) -> None:
    h, w = image.shape[-2:]
    a_img, b_img = 0.1 + 0.7 * image, 0.25 + 0.7 * image  # b is 0.15 brighter
    left = torch.zeros(1, 1, h, w)
    left[..., : w // 2] = 1
    a, b = _rendering(a_img, 1 - left), _rendering(b_img, left)  # a is better on the left, b on the right
    s = Settings(select_sigma=0)
    m = selection(a, b, 0.5, s)
    assert (m[..., : w // 2 - 2] > 0.99).all() and (m[..., w // 2 + 2 :] < 0.01).all()
    out = poisson(a, b, 0.5, s)
    naive = m * a_img + (1 - m) * b_img

    def jump(x: torch.Tensor) -> torch.Tensor:  # the change across the switch beyond the picture's own
        step = x[..., w // 2 + 3] - x[..., w // 2 - 3]
        return (step - 0.7 * (image[..., w // 2 + 3] - image[..., w // 2 - 3])).mean(-1).abs()

    # the naive cut adds b's 0.15 at the switch; the composite spreads it over the whole picture
    assert (jump(naive) > 0.14).all() and (jump(out) < 0.02).all()
    # and away from it each side keeps its source's detail
    ga, gb = gradients(a_img)[0], gradients(b_img)[0]
    go = gradients(out)[0]
    assert (go[..., 4:-4, : w // 2 - 6] - ga[..., 4:-4, : w // 2 - 6]).abs().max() < 0.03
    assert (go[..., 4:-4, w // 2 + 6 : -1] - gb[..., 4:-4, w // 2 + 6 : -1]).abs().max() < 0.03


def test_misaligned_sources_ghost_in_a_crossfade_but_not_in_the_composite(image: torch.Tensor) -> None:
    a_img, b_img = image, image.roll(3, dims=-1)  # b's texture sits 3 px off a's
    a, b = _rendering(a_img, 0.0), _rendering(b_img, 0.5)  # a is the better source everywhere
    out, fade = blend(a, b, 0.5, Settings()), blend(a, b, 0.5, Settings(blend="crossfade"))
    assert torch.equal(fade, crossfade(a, b, 0.5))
    inner = (..., slice(8, -8), slice(8, -8))
    # the composite keeps a's detail; the crossfade is a double image of both
    assert (out - a_img)[inner].abs().mean() < 0.01
    assert (fade - a_img)[inner].abs().mean() > 0.03
    assert gradients(fade)[0][inner].abs().mean() < 0.85 * gradients(out)[0][inner].abs().mean()


def test_equal_errors_go_to_the_nearer_keyframe(image: torch.Tensor) -> None:
    a, b = _rendering(image, 0.1), _rendering(image * 0.5, 0.1)
    assert (selection(a, b, 0.2, Settings()) > 0.99).all()
    assert (selection(a, b, 0.8, Settings()) < 0.01).all()


def test_decoder_preset_without_a_checkpoint_falls_back_to_fast(
    capsys, tmp_path: Path, image: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[object] = []

    def fake(content: torch.Tensor, style: torch.Tensor, params: object, progress: object = None) -> torch.Tensor:
        seen.append(params)
        return content

    monkeypatch.setattr(pipeline, "stylize", fake)
    monkeypatch.setattr(cli_video, "stylize", fake, raising=False)  # where the command runs NNST itself
    monkeypatch.setattr(methods.nnst, "find_decoder", lambda explicit=None: None)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        save_image(folder / f"f{i}.png", image[..., 8 * i : 8 * i + 64, :64])
    style = tmp_path / "style.png"
    save_image(style, image)
    code, _, err = run_cli(
        capsys, "video", str(folder), str(style), "-o", str(tmp_path / "o.mp4"), "--preset", "decoder", "--size", "64"
    )
    assert code == 0 and "using --preset fast instead" in err
    assert seen and all(p.form != "learned" for p in seen)  # type: ignore[attr-defined]
    monkeypatch.setattr(methods.nnst, "find_decoder", lambda explicit=None: Path("d.pt"))
    assert methods.nnst.preset_or_fast("decoder", seed=0).checkpoint == "d.pt"
