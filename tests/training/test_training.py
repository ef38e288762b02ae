"""The shared training framework: data folders, augmentation, the loop, checkpoints, resume, devices."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from analogist.errors import InputError, WeightsNotFoundError
from analogist.io import save_image
from analogist.training import (
    ImageFolder,
    TrainConfig,
    TrainTask,
    checkpoint_env_var,
    find_checkpoint,
    fit,
    inside,
    jitter,
    load_checkpoint,
    random_affine,
    random_tps,
    resolve_checkpoint,
    resolve_device,
    save_checkpoint,
    slim,
    warp,
)
from analogist.training.augment import tps_flow


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small seeded images in nested folders, plus files that are not images."""
    root = tmp_path_factory.mktemp("images")
    g = torch.Generator().manual_seed(1)
    for i in range(6):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        save_image(sub / f"im{i}.png", torch.rand(1, 3, 20 + i, 28, generator=g))
    (root / "notes.txt").write_text("not an image")
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    return root


class Toy(TrainTask):
    """A small conv net (with dropout, so the global RNG matters) learning the images' grayscale."""

    name = "toy"

    def __init__(self, folder: Path, lr: float = 0.05) -> None:
        self.images, self.lr = ImageFolder(folder, size=16), lr

    def config(self) -> dict[str, object]:
        return {"lr": self.lr, "size": self.images.size}

    def data(self) -> dict[str, object]:
        return {"images": self.images.describe()}

    def build(self, device: torch.device) -> dict[str, nn.Module]:
        return {
            "net": nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout(0.1), nn.Conv2d(8, 1, 1)).to(
                device
            )
        }

    def optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {"net": torch.optim.Adam(models["net"].parameters(), lr=self.lr)}

    def step(self, models, optims, generator, step):  # type: ignore[no-untyped-def]
        x = jitter(self.images.sample(4, generator), generator)
        loss = (models["net"](x) - x.mean(dim=1, keepdim=True)).square().mean()
        optims["net"].zero_grad()
        loss.backward()
        optims["net"].step()
        return {"mse": loss.item()}


def test_folder_finds_images_recursively_and_samples_seeded_crops(folder: Path) -> None:
    ds = ImageFolder(folder, size=16)
    assert len(ds) == 6 and all(p.suffix == ".png" for p in ds.files) and ds.files == sorted(ds.files)
    a = ds.sample(5, torch.Generator().manual_seed(3))
    b = ds.sample(5, torch.Generator().manual_seed(3))
    assert a.shape == (5, 3, 16, 16) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, ds.sample(5, torch.Generator().manual_seed(4)))


def test_empty_or_missing_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    for root in (tmp_path / "empty", tmp_path / "absent"):
        with pytest.raises(InputError) as err:
            ImageFolder(root)
        assert "\n" not in str(err.value) and str(root) in str(err.value)


def test_affine_flow_points_back_to_where_each_pixel_came_from() -> None:
    image = torch.zeros(3, 1, 40, 48)
    image[:, :, 18:22, 20:24] = 1.0  # a bright square centred at (21.5, 19.5)
    warped, flow = random_affine(image, torch.Generator().manual_seed(0), rotate=20, translate=0.1)
    assert flow.shape == (3, 2, 40, 48) and not torch.equal(warped, image)
    for b in range(3):
        w = warped[b, 0]
        ys, xs = torch.meshgrid(torch.arange(40.0), torch.arange(48.0), indexing="ij")
        cy, cx = (w * ys).sum() / w.sum(), (w * xs).sum() / w.sum()  # the square's centre after warping
        iy, ix = int(cy.round()), int(cx.round())
        src = (ix + flow[b, 0, iy, ix], iy + flow[b, 1, iy, ix])
        assert abs(src[0] - 21.5) < 1.0 and abs(src[1] - 19.5) < 1.0


def test_tps_moves_control_points_exactly_and_is_seeded() -> None:
    anchors = np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 20.0], [30.0, 20.0], [15.0, 10.0]])
    moved = anchors + np.array([[1.0, 2.0], [-2.0, 0.5], [0.0, 0.0], [1.5, -1.0], [3.0, 2.0]])
    flow = tps_flow(moved, anchors, (21, 31))
    for (x, y), (mx, my) in zip(anchors.astype(int), moved):
        assert torch.allclose(flow[:, y, x], torch.tensor([mx - x, my - y], dtype=torch.float32), atol=1e-4)
    images = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    a = random_tps(images, torch.Generator().manual_seed(5))
    b = random_tps(images, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.allclose(warp(images, a[1]), a[0]) and inside(a[1]).shape == (2, 1, 24, 24)
    assert inside(torch.zeros(1, 2, 5, 5)).all() and not inside(torch.full((1, 2, 5, 5), 9.0)).any()


def test_toy_task_trains_and_the_loss_falls(folder: Path) -> None:
    state = fit(Toy(folder), TrainConfig(steps=40, seed=0, device="cpu"))
    mse = state.history["mse"]
    assert state.step == 40 and len(mse) == 40
    assert np.mean(mse[-5:]) < 0.5 * np.mean(mse[:5])
    assert state.provenance["steps"] == 40 and state.provenance["torch"] == torch.__version__


def test_fit_leaves_the_callers_random_state_alone(folder: Path) -> None:
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(7)
    expected = (torch.rand(3), np.random.rand(), random.random())
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(7)
    fit(Toy(folder), TrainConfig(steps=2, device="cpu"))
    got = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


def test_resume_after_ctrl_c_equals_an_uninterrupted_run(folder: Path, tmp_path: Path) -> None:
    full = fit(Toy(folder), TrainConfig(steps=12, seed=3, device="cpu", checkpoint_every=5, out=tmp_path / "a.pt"))

    class Interrupted(Toy):
        def step(self, models, optims, generator, step):  # type: ignore[no-untyped-def]
            if step == 6:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of step 7
            return super().step(models, optims, generator, step)

    ckpt = tmp_path / "b.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(Interrupted(folder), TrainConfig(steps=12, seed=3, device="cpu", checkpoint_every=5, out=ckpt))
    assert load_checkpoint(ckpt, kind="toy")["step"] == 7  # the step in progress was finished, then saved
    resumed = fit(Toy(folder), TrainConfig(steps=12, seed=3, device="cpu", checkpoint_every=5, out=ckpt))
    assert resumed.resumed_from == 7 and resumed.step == 12
    for k, v in full.models["net"].state_dict().items():
        assert torch.equal(v, resumed.models["net"].state_dict()[k]), k
    assert resumed.history == full.history
    assert load_checkpoint(ckpt)["provenance"]["sessions"] == 2


def test_checkpoint_round_trip_and_slim_copy(folder: Path, tmp_path: Path) -> None:
    state = fit(Toy(folder), TrainConfig(steps=3, device="cpu", out=tmp_path / "c.pt"))
    saved = load_checkpoint(tmp_path / "c.pt", kind="toy")
    assert saved["step"] == 3 and saved["config"] == {"lr": 0.05, "size": 16}
    for k, v in state.models["net"].state_dict().items():
        assert torch.equal(v, saved["models"]["net"][k])
    assert saved["provenance"]["data"]["images"]["images"] == 6
    save_checkpoint(tmp_path / "slim.pt", slim(saved))
    small = load_checkpoint(tmp_path / "slim.pt", kind="toy")
    assert "optimizers" not in small and (tmp_path / "slim.pt").stat().st_size < (tmp_path / "c.pt").stat().st_size
    with pytest.raises(InputError, match="cannot be resumed"):
        fit(Toy(folder), TrainConfig(steps=5, device="cpu", out=tmp_path / "slim.pt"))
    with pytest.raises(InputError, match="lr=0.05"):
        fit(Toy(folder, lr=0.01), TrainConfig(steps=5, device="cpu", out=tmp_path / "c.pt"))


def test_corrupt_foreign_and_wrong_task_checkpoints_give_one_line(folder: Path, tmp_path: Path) -> None:
    fit(Toy(folder), TrainConfig(steps=1, device="cpu", out=tmp_path / "ok.pt"))
    (tmp_path / "cut.pt").write_bytes((tmp_path / "ok.pt").read_bytes()[:300])
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 64)
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "foreign.pt")
    for name, pattern in (
        ("cut.pt", "corrupt"),
        ("junk.pt", "corrupt"),
        ("foreign.pt", "not an analogist"),
        ("absent.pt", "no such"),
        ("ok.pt", "not of 'nnst-d'"),
    ):
        with pytest.raises(InputError, match=pattern) as err:
            load_checkpoint(tmp_path / name, kind="nnst-d")
        assert "\n" not in str(err.value)


def test_weight_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(checkpoint_env_var("toy"), raising=False)
    monkeypatch.delenv("ANALOGIST_WEIGHTS_DIR", raising=False)
    assert find_checkpoint("toy", "toy.pt") is None
    with pytest.raises(WeightsNotFoundError, match="analogist train toy"):
        resolve_checkpoint("toy", "toy.pt")
    (tmp_path / "toy.pt").write_bytes(b"x")
    (tmp_path / "env.pt").write_bytes(b"x")
    monkeypatch.setenv("ANALOGIST_WEIGHTS_DIR", str(tmp_path))
    assert find_checkpoint("toy", "toy.pt") == tmp_path / "toy.pt"
    monkeypatch.setenv("ANALOGIST_TOY_CHECKPOINT", str(tmp_path / "env.pt"))
    assert find_checkpoint("toy", "toy.pt") == tmp_path / "env.pt"
    assert find_checkpoint("toy", "toy.pt", tmp_path / "toy.pt") == tmp_path / "toy.pt"
    with pytest.raises(InputError, match="does not exist"):
        find_checkpoint("toy", "toy.pt", tmp_path / "missing.pt")


def test_device_choice() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="cuda was asked for") as err:
            resolve_device("cuda")
        assert "\n" not in str(err.value)
