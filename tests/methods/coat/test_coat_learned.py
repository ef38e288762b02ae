"""COAT's learned form: the contrastive loss, training steps, exact resume, the CLI end to end."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from cli_helpers import run_cli

from analogist.data import example_path
from analogist.io import load_image, resize_longer, save_image
from analogist.matching.contrastive import contrastive_loss, hard_negatives
from analogist.matching.flow import identity_grid
from analogist.methods.coat import COATParams
from analogist.methods.coat.learned import _restore, encode, learned_levels
from analogist.methods.coat.train import COATTask, COATTrainSettings
from analogist.training import TrainConfig, fit

TINY = COATTrainSettings(size=32, batch=2, lr=1e-3)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("cat.jpg", "cat_painting.jpg", "astronaut.jpg"):
        save_image(folder / name.replace(".jpg", ".png"), load_image(example_path(name), 48))
    return folder


def test_contrastive_loss_ranks_the_true_positive_above_mined_negatives() -> None:
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(36, 8, generator=g)  # a 6 x 6 grid of cells
    positive = torch.tensor([3, 14, 27, 35])
    query = keys[positive] + 0.3 * torch.randn(4, 8, generator=g)
    xy = identity_grid(6, 6, dtype=torch.int64).flatten(1).T  # (36, 2) cell coordinates x, y
    sim = F.normalize(query, dim=1) @ F.normalize(keys, dim=1).T
    neg = hard_negatives(sim, positive, xy, k=5, radius=1.5)
    for q in range(4):
        far = [j for j in range(36) if torch.dist(xy[j].float(), xy[positive[q]].float()) > 1.5]
        ranked = sorted(far, key=lambda j: -float(sim[q, j]))[:5]
        assert sorted(neg[q].tolist()) == sorted(ranked)  # the hardest far-away keys, by S
        assert positive[q] not in neg[q]
        assert sim[q, positive[q]] > sim[q, neg[q]].max()  # the true match outranks every mined negative
    good = contrastive_loss(query, keys, positive, xy, k=5)
    wrong = contrastive_loss(query, keys, positive.flip(0), xy, k=5)
    assert good < wrong and good < 1.0


@pytest.mark.slow
def test_a_few_steps_lower_the_loss_and_resume_is_exact(images, tmp_path) -> None:
    task = COATTask(images, TINY)
    models = task.build(torch.device("cpu"))
    decoder = models["decoder"]
    batch = load_image(example_path("cat.jpg"), 32)[..., :32, :32]

    def reconstruction() -> float:
        with torch.no_grad():
            return float(F.mse_loss(decoder(encode(task.backbone, batch))[0], batch))

    before = reconstruction()
    opts = task.optimizers(models)
    g = torch.Generator().manual_seed(0)
    for i in range(8):
        task.step(models, opts, g, i)
    assert reconstruction() < 0.7 * before

    straight = fit(COATTask(images, TINY), TrainConfig(steps=4, out=tmp_path / "a.pt"))
    fit(COATTask(images, TINY), TrainConfig(steps=2, out=tmp_path / "b.pt"))
    resumed = fit(COATTask(images, TINY), TrainConfig(steps=4, out=tmp_path / "b.pt"))
    assert resumed.resumed_from == 2
    for name in ("matcher", "decoder"):
        a, b = straight.models[name].state_dict(), resumed.models[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_train_and_apply_from_the_command_line(images, tmp_path, capsys) -> None:
    ckpt = tmp_path / "coat.pt"
    code, _, err = run_cli(
        capsys,
        "train",
        "coat",
        "--images",
        str(images),
        "--out",
        str(ckpt),
        "--steps",
        "2",
        "--size",
        "32",
        "--batch",
        "1",
    )
    assert code == 0, err
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
        "--form",
        "learned",
        "--checkpoint",
        str(ckpt),
        "--sheet-levels",
        "0,3",
    )
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["form"] == "learned" and (out / "sheet.png").is_file()
    code, _, err = run_cli(capsys, "train", "coat", "--images", str(tmp_path / "none"), "--out", str(ckpt))
    assert code == 2 and err.startswith("error:")
    code, _, err = run_cli(
        capsys,
        "appearance",
        str(example_path("cat.jpg")),
        str(example_path("cat.jpg")),
        "-o",
        str(out / "x"),
        "--form",
        "learned",
        "--checkpoint",
        str(tmp_path / "missing.pt"),
    )
    assert code == 2 and "missing.pt" in err


def test_restore_gives_back_the_content_for_its_own_small_copy() -> None:
    content = load_image(example_path("cat.jpg"), 96)
    small = resize_longer(content, 48)
    assert max(small.shape[-2:]) == 48
    # the decoder returning the content's small copy must give the content itself: its detail is added back
    assert torch.allclose(_restore(small, content, small), content, atol=1e-5)


def test_large_images_run_at_the_working_side_with_the_content_detail() -> None:
    content, style = load_image(example_path("cat.jpg"), 96), load_image(example_path("cat_painting.jpg"), 96)
    result = learned_levels(content, style, COATParams(learned_side=48, color=False), [2])[2]
    assert result.image.shape == content.shape
    assert max(result.alignment.grid_1) == 12  # matched on the 48-px copy's quarter-resolution grid

    def high(x: torch.Tensor) -> torch.Tensor:  # the band finer than the working side
        return (
            x - F.interpolate(resize_longer(x, 48), size=x.shape[-2:], mode="bilinear", align_corners=False)
        ).flatten()

    assert torch.corrcoef(torch.stack([high(result.image), high(content)]))[0, 1] > 0.9
