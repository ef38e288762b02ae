"""COAT (training-free form): soft mutual consistency, the latent swap, structure kept, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_helpers import run_cli

from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image, save_image
from analogist.matching.mutual import confident_set, latent_swap, soft_mutual
from analogist.methods.coat import COATParams, coat
from analogist.methods.coat.correspond import match_scales

FAST = COATParams(scales=2, steps=15, precision="fp32")


def test_q_is_one_exactly_on_mutual_nearest_neighbours(device: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    sim = torch.rand(40, 30, generator=g)
    sim[3, 7] = 2.0  # a sure mutual pair
    q = soft_mutual(sim.to(device))
    assert q.device.type == device.type
    q = q.cpu()
    row_best = sim.argmax(dim=1)
    col_best = sim.argmax(dim=0)
    mutual = torch.zeros_like(q, dtype=torch.bool)
    for i in range(40):
        if col_best[row_best[i]] == i:
            mutual[i, row_best[i]] = True
    assert mutual[3, 7] and mutual.sum() >= 2
    assert torch.all(q[mutual] == 1.0)
    assert torch.all(q[~mutual] < 1.0) and torch.all(q >= 0)


@pytest.mark.parametrize("threshold", [1.0, 0.7])
def test_chunked_confident_set_equals_the_dense_one(threshold: float) -> None:
    g = torch.Generator().manual_seed(1)
    f1, f2 = torch.rand(16, 90, generator=g), torch.rand(16, 70, generator=g)
    q = soft_mutual(F.normalize(f1, dim=0).T @ F.normalize(f2, dim=0))
    conf = confident_set(f1, f2, threshold, chunk=7)
    assert conf.pairs == int((q >= threshold).sum())
    best_q, best_j = q.max(dim=1)
    if threshold == 1:  # the index is then the nearest neighbour (the same j on the confident set)
        best_j = (F.normalize(f1, dim=0).T @ F.normalize(f2, dim=0)).argmax(dim=1)
        best_q = q[torch.arange(90), best_j]
    assert torch.allclose(conf.q, best_q, atol=1e-6)
    assert torch.equal(conf.mask, best_q >= threshold)
    assert torch.equal(conf.index[conf.mask], best_j[conf.mask])
    if threshold < 1:  # the relaxed set keeps more
        assert conf.pairs > confident_set(f1, f2, 1.0).pairs


def test_swap_changes_only_confident_positions() -> None:
    g = torch.Generator().manual_seed(2)
    f1, f2 = torch.randn(1, 8, 5, 6, generator=g), torch.randn(1, 8, 4, 7, generator=g)
    conf = confident_set(f1.reshape(8, -1), f2.reshape(8, -1), 1.0)
    out = latent_swap(f1, f2, conf).reshape(8, -1)
    a, b = f1.reshape(8, -1), f2.reshape(8, -1)
    assert 0 < int(conf.mask.sum()) < conf.mask.numel()
    assert torch.equal(out[:, ~conf.mask], a[:, ~conf.mask])
    assert torch.equal(out[:, conf.mask], b[:, conf.index[conf.mask]])


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(F.mse_loss(a, b)))


def _edges(x: torch.Tensor) -> np.ndarray:
    from skimage.filters import sobel

    return sobel(x[0].mean(0).numpy())


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.slow
def test_content_as_style_reproduces_the_content() -> None:
    content = load_image(example_path("cat.jpg"), 64)
    result = coat(content, content, replace_level(FAST, 0))
    assert result.image.shape == content.shape
    assert all(c.mask.float().mean() > 0.9 for c in result.alignment.confident.values())
    assert _psnr(result.image, content) > 24


def replace_level(params: COATParams, n: int) -> COATParams:
    from dataclasses import replace

    return replace(params, texture_level=n)


@pytest.mark.slow
def test_structure_survives_a_wrong_match() -> None:
    """The style is the content recoloured with its halves swapped: every texture feature comes from
    the wrong place, yet the output's edges stay the content's."""
    content = load_image(example_path("cat.jpg"), 64)
    recoloured = content[:, [2, 0, 1]] * 0.8 + 0.1
    w = content.shape[-1]
    style = torch.cat([recoloured[..., w // 2 :], recoloured[..., : w // 2]], dim=3)
    result = coat(content, style, replace_level(FAST, 1)).image
    e_out, e_content, e_style = _edges(result), _edges(content), _edges(style)
    assert _corr(e_out, e_content) > 0.6
    assert _corr(e_out, e_content) > _corr(e_out, e_style) + 0.4
    # and the appearance moved: the output is closer in colour to the recoloured style than the content is
    assert F.mse_loss(result.mean((2, 3)), style.mean((2, 3))) < F.mse_loss(content.mean((2, 3)), style.mean((2, 3)))


def test_a_grid_over_the_cell_budget_is_matched_on_cells() -> None:
    g = torch.Generator().manual_seed(3)
    coarse = torch.rand(1, 2688, 10, 12, generator=g)
    fine = F.interpolate(coarse, scale_factor=2, mode="nearest")  # 20 x 24 grid, 2 x 2 equal cells
    style = torch.roll(fine, shifts=(4, 6), dims=(2, 3))  # the style: the same grid shifted by whole cells
    conf = match_scales(fine, style, COATParams(max_cells=150))  # 480 positions: matched on 120 cells
    ys, xs = torch.meshgrid(torch.arange(20), torch.arange(24), indexing="ij")
    shifted = ((ys + 4) % 20 * 24 + (xs + 6) % 24).reshape(-1)
    for c in conf.values():
        assert c.index.shape == (480,) and c.mask.shape == (480,)
        inside = c.mask  # confident positions land at the same offset inside the shifted cell
        assert inside.float().mean() > 0.5 and torch.equal(c.index[inside], shifted[inside])


def test_all_structure_levels_return_the_content() -> None:
    content = load_image(example_path("cat.jpg"), 48)
    style = load_image(example_path("cat_painting.jpg"), 48)
    out = coat(content, style, replace_level(FAST, 4))
    assert torch.equal(out.image, content)


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError):
        COATParams(texture_level=5)
    with pytest.raises(InputError):
        COATParams(threshold=0.0)
    for bad in ({"fill": 1.5}, {"fill_support": 0.0}, {"texture_bands": 0}, {"texture_bands": 1, "zero_levels": 3}):
        with pytest.raises(InputError):
            COATParams(**bad)
    with pytest.raises(InputError):
        coat(torch.rand(3, 32, 32), torch.rand(1, 3, 32, 32))
    with pytest.raises(InputError):
        coat(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32))


@pytest.mark.slow
def test_cli_writes_every_output(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys,
        "appearance",
        str(example_path("cat.jpg")),
        str(example_path("cat_painting.jpg")),
        "-o",
        str(out),
        "--size",
        "48",
        "--steps",
        "3",
        "--sheet-levels",
        "1,3",
        "--texture-level",
        "2",
        "--threshold",
        "0.9",
        "--fill",
        "0.5",
    )
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "result.png",
            "report.json",
            "sheet.png",
            "pairs_block1.png",
            "pairs_block2.png",
            "pairs_block3.png",
            "pairs_block4.png",
        ]
    )
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["fill"] == 0.5
    assert report["params"]["threshold"] == 0.9 and set(report["pairs_per_scale"]) == {
        "block1",
        "block2",
        "block3",
        "block4",
    }
    assert all(v > 0 for v in report["pairs_per_scale"].values())


def test_cli_bad_input(tmp_path, capsys) -> None:
    image = tmp_path / "a.png"
    save_image(image, torch.rand(1, 3, 40, 40))
    code, _, err = run_cli(capsys, "appearance", str(tmp_path / "missing.png"), str(image), "-o", str(tmp_path / "o"))
    assert code == 2 and err.startswith("error:") and "Traceback" not in err
    code, _, err = run_cli(
        capsys, "appearance", str(image), str(image), "-o", str(tmp_path / "o"), "--sheet-levels", "1,9"
    )
    assert code == 2 and "sheet-levels" in err
    code, _, err = run_cli(capsys, "appearance", str(image), str(image), "-o", str(tmp_path / "o"), "--fill", "1.5")
    assert code == 2 and "fill" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "appearance", str(image), str(image), "-o", str(image))
    assert code == 2 and err.startswith("error:")
    assert not (tmp_path / "o").exists()
