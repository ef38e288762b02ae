"""SAM-Net: affine fields, soft-argmax, neural patch blending, the recurrent loop, mask transfer, CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image

from analogist.data import example_path
from analogist.errors import InputError
from analogist.features import get_backbone
from analogist.io import load_image, read_flo
from analogist.matching.affine_field import (
    field_targets,
    field_to_flow,
    fit_affine_field,
    identity_field,
    soft_argmax,
    window_correlation,
    window_offsets,
)
from analogist.matching.flow import identity_grid
from analogist.methods.samnet import SAMNetParams
from analogist.methods.samnet.core import invert, lambda_schedule, sam_net, transfer_mask
from analogist.synthesis.blend import blend_weights, patch_blend
from analogist.synthesis.warp import sample
from analogist.training.device import on_cpu

#: VGG's relu4_1 (stride 8) gives a 16x16 grid at 128 px; efficientnet-lite0's stride-16 default only 8x8
# the paper's loop from the identity (the buddies start has its own test)
FAST = SAMNetParams(size=None, iters=3, attribute=False, backbone="vgg16-hed", layer="relu4_1", init="identity")


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return load_image(example_path("astronaut.jpg"), 128)


def _affine_pair(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``image`` warped by a known rotation + scale + shift: (target, ground-truth flow, target points)."""
    h, w = image.shape[-2:]
    th, s = math.radians(6), 1.08
    m = torch.tensor([[s * math.cos(th), -s * math.sin(th)], [s * math.sin(th), s * math.cos(th)]])
    c = torch.tensor([w / 2, h / 2])
    t = c - m @ c + torch.tensor([3.0, -2.0])
    g = identity_grid(h, w)
    q = torch.einsum("ij,jhw->ihw", m, g) + t[:, None, None]
    back = torch.einsum("ij,jhw->ihw", torch.linalg.inv(m), g - t[:, None, None])
    return sample(image, back), q - g, q


def test_field_starts_at_identity_and_maps_cells_to_themselves() -> None:
    f = identity_field((5, 7))
    assert torch.allclose(field_targets(f), identity_grid(5, 7))
    assert torch.allclose(field_to_flow(f, (5, 7), (40, 56), (40, 56)), torch.zeros(2, 40, 56), atol=1e-5)


def test_least_squares_fit_recovers_an_affine_field_exactly() -> None:
    a = torch.tensor([[1.1, -0.2, 3.0], [0.15, 0.9, -1.0]])
    g = identity_grid(9, 11)
    targets = torch.einsum("ij,jhw->ihw", a[:, :2], g) + a[:, 2, None, None]
    field = fit_affine_field(targets, torch.rand(9, 11) + 0.5, radius=2, ridge=0.0)
    assert torch.allclose(field, a.flatten()[:, None, None].expand(-1, 9, 11), atol=1e-3)


def test_window_correlation_peaks_at_the_true_offset_and_soft_argmax_finds_it() -> None:
    torch.manual_seed(0)
    ft = torch.randn(1, 16, 12, 12)
    fs = torch.roll(ft, shifts=(-2, 1), dims=(2, 3))  # fs(x, y) = ft(x - 1, y + 2)
    corr = window_correlation(fs, ft, identity_grid(12, 12), 3)
    disp, conf, probs = soft_argmax(corr, 3, beta=200.0)
    inner = (slice(3, 9), slice(3, 9))
    assert torch.allclose(disp[:, inner[0], inner[1]], torch.tensor([-1.0, 2.0])[:, None, None], atol=1e-2)
    assert torch.allclose(probs.sum(0), torch.ones(12, 12))
    assert (conf[inner] > 0.9).all()


def test_blend_weights_sum_to_one_and_lambda_zero_keeps_the_source() -> None:
    torch.manual_seed(1)
    conf = torch.rand(6, 8)
    conf[2:4, 2:5] = 0.0  # a patch of zero confidence still gets weights that sum to one
    wts = blend_weights(conf)
    assert wts.shape == (9, 6, 8) and torch.allclose(wts.sum(0), torch.ones(6, 8))
    assert (wts >= 0).all()
    fs, ft = torch.randn(1, 5, 6, 8), torch.randn(1, 5, 6, 8)
    field = identity_field((6, 8))
    assert torch.equal(patch_blend(fs, ft, field, conf, 0.0), fs)
    # lambda = 1 and the identity field: every neighbour predicts the cell itself, so B = F_t
    assert torch.allclose(patch_blend(fs, ft, field, conf, 1.0), ft, atol=1e-5)


def test_lambda_schedule() -> None:
    assert lambda_schedule(1) == pytest.approx(1 - math.exp(-1))
    assert lambda_schedule(10) > 0.9999


def test_identical_images_stay_at_the_identity(photo: torch.Tensor, device: torch.device) -> None:
    res = sam_net(photo.to(device), photo.to(device), FAST)
    assert res.flow.device.type == device.type
    res = on_cpu(res)
    assert res.flow.abs().max() < 0.05
    assert torch.allclose(res.field, identity_field(tuple(res.field.shape[-2:])), atol=1e-3)


def test_known_global_affine_warp_is_recovered(photo: torch.Tensor) -> None:
    target, gt, q = _affine_pair(photo)
    h, w = photo.shape[-2:]
    m = 16  # away from the borders, where the target repeats its edge pixels
    inside = (q[0] > m) & (q[0] < w - 1 - m) & (q[1] > m) & (q[1] < h - 1 - m)
    inside[:m] = inside[-m:] = False
    inside[:, :m] = inside[:, -m:] = False
    # the plain fit (0.99 px); the fold-aware one (the default) holds back the cells whose squeeze
    # toward the frame's edge folds the map as the loop walks there from the identity (1.14 px)
    for rounds, bound in ((0, 1.0), (FAST.fold_rounds, 1.2)):
        res = sam_net(photo, target, replace(FAST, iters=5, fold_rounds=rounds))
        err = (res.flow - gt).norm(dim=0)[inside]
        assert err.mean() < bound, (rounds, err.mean())
    assert res.flow.shape == (2, h, w) and res.stylised.shape == photo.shape


@pytest.mark.slow
def test_buddies_start_keeps_identity_and_recovers_the_affine_warp(photo: torch.Tensor) -> None:
    same = sam_net(photo, photo, replace(FAST, iters=1, init="buddies"))
    assert same.flow.abs().max() < 0.05
    target, gt, q = _affine_pair(photo)
    res = sam_net(photo, target, replace(FAST, iters=3, init="buddies"))
    h, w = photo.shape[-2:]
    inside = (q[0] > 16) & (q[0] < w - 17) & (q[1] > 16) & (q[1] < h - 17)
    inside[:16] = inside[-16:] = False
    inside[:, :16] = inside[:, -16:] = False
    assert (res.flow - gt).norm(dim=0)[inside].mean() < 1.0
    with pytest.raises(InputError):
        SAMNetParams(init="nearest")


def test_attribute_transfer_runs_and_keeps_every_iteration(photo: torch.Tensor) -> None:
    small = photo[..., ::2, ::2].contiguous()
    target = torch.flip(small, dims=[1])  # a colour change: same structure, other attributes
    res = sam_net(small, target, SAMNetParams(size=None, iters=2, keep_iterations=True))
    assert len(res.iterations) == 2
    scale = SAMNetParams().lambda_scale
    assert [it.lam for it in res.iterations] == [pytest.approx(scale * lambda_schedule(i)) for i in (1, 2)]
    # the stylised source moved toward the target's colours
    assert (res.stylised - target).abs().mean() < (small - target).abs().mean()
    assert res.confidence.min() >= 0 and res.confidence.max() <= 1


@pytest.mark.slow
def test_feature_inversion_decoder_moves_toward_the_target_features() -> None:
    net = get_backbone("efficientnet-lite0")
    a = load_image(example_path("cat.jpg"), 32)
    b = load_image(example_path("cat_painting.jpg"), 32)[..., : a.shape[-2], : a.shape[-1]]
    goal = net.extract(b, ["stage3"])["stage3"]
    out = invert(net, "stage3", goal, a, 3)

    def dist(x):
        return (net.extract(x, ["stage3"])["stage3"] - goal).pow(2).mean().item()

    assert dist(out) < 0.9 * dist(a)
    assert out.min() >= 0 and out.max() <= 1


def test_mask_transfer_keeps_label_values() -> None:
    rng = np.random.default_rng(0)
    labels = rng.choice(np.array([0, 7, 255], np.uint8), size=(20, 30))
    flow = torch.randn(2, 16, 24) * 5
    out = transfer_mask(labels, flow)
    assert out.shape == (16, 24) and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 7, 255}
    zero = transfer_mask(labels[:16, :24], torch.zeros(2, 16, 24))
    assert np.array_equal(zero, labels[:16, :24])


def test_cli_writes_every_output_and_the_mask(tmp_path: Path, capsys) -> None:
    src = example_path("cat.jpg")
    tgt = example_path("cat_painting.jpg")
    mask_path = tmp_path / "mask.png"
    size = load_image(tgt, 64).shape[-2:]
    m = np.zeros(tuple(size), np.uint8)
    m[: size[0] // 2] = 3
    m[size[0] // 2 :, : size[1] // 2] = 9
    pal = Image.fromarray(m, mode="L").convert("P")
    pal.putpalette([0, 0, 0, 255, 0, 0] * 128)
    pal.save(mask_path)
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, "samnet", str(src), str(tgt), "-o", str(out), "--size", "64", "--iters", "2", "--mask", str(mask_path)
    )
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {
        "flow.flo",
        "flow.png",
        "affine.png",
        "stylised.png",
        "warped.png",
        "confidence.png",
        "iterations.png",
        "report.json",
        "mask.png",
    } <= names
    flow = read_flo(out / "flow.flo")
    assert tuple(flow.shape[-2:]) == tuple(load_image(src, 64).shape[-2:])
    warped_mask = Image.open(out / "mask.png")
    assert warped_mask.mode == "P" and set(np.unique(np.asarray(warped_mask))) <= {0, 3, 9}
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["iters"] == 2 and report["form"] == "learned"  # the bundled checkpoint fits


def test_the_learned_form_maps_an_image_onto_itself_by_the_identity() -> None:
    """G's answer to a perfect match is subtracted: without it the flow moved up to 1.4 px at 128 px."""
    photo = load_image(example_path("astronaut.jpg"), 128)
    for init in ("identity", "buddies"):
        res = sam_net(photo, photo, SAMNetParams(size=None, form="learned", init=init, attribute=False))
        assert res.form == "learned" and res.flow.norm(dim=0).max() < 0.1, init


def test_auto_form_is_the_learned_one_where_its_checkpoint_fits() -> None:
    from analogist.methods.samnet import resolve_form

    assert resolve_form(SAMNetParams()) == "learned"  # bundled: trained on efficientnet-lite0 stage5
    assert resolve_form(SAMNetParams(backbone="vgg16-hed", layer="relu4_1")) == "training-free"
    assert resolve_form(SAMNetParams(layer="stage4")) == "training-free"
    assert resolve_form(SAMNetParams(form="training-free")) == "training-free"


def test_cli_decoder_option_chooses_the_decoder(tmp_path: Path, capsys) -> None:
    src, tgt = example_path("cat.jpg"), example_path("cat_painting.jpg")
    stylised = {}
    for decoder in ("blend", "learned"):
        out = tmp_path / decoder
        argv = [str(src), str(tgt), "-o", str(out), "--size", "64", "--iters", "2", "--decoder", decoder]
        argv += ["--render", "loop"]  # the loop's own image, which the decoder draws
        code, _, err = run_cli(capsys, "samnet", *argv, "--init", "identity")
        assert code == 0, err
        report = json.loads((out / "report.json").read_text())
        assert report["params"]["transfer"] == decoder and report["params"]["init"] == "identity"
        stylised[decoder] = np.asarray(Image.open(out / "stylised.png"), dtype=np.float64)
    # the bundled learned decoder paints a different image than the image-space blend
    assert np.abs(stylised["blend"] - stylised["learned"]).mean() > 1.0


@pytest.mark.parametrize(
    "argv",
    [
        ["missing.jpg", "TARGET"],
        ["SOURCE", "TARGET", "--iters", "0"],
        ["SOURCE", "TARGET", "--form", "learned", "--checkpoint", "nope.pt"],
        ["SOURCE", "TARGET", "--mask", "nope.png"],
        ["SOURCE", "TARGET", "--layer", "relu9_9"],
        ["SOURCE", "TARGET", "--decoder", "vae"],
        ["SOURCE", "TARGET", "--init", "random"],
    ],
)
def test_cli_bad_input_is_one_error_line_and_writes_nothing(argv: list[str], tmp_path: Path, capsys) -> None:
    args = [
        a.replace("SOURCE", str(example_path("cat.jpg"))).replace("TARGET", str(example_path("cat_painting.jpg")))
        for a in argv
    ]
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "samnet", *args, "-o", str(out), "--size", "48")
    assert code == 2
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_window_offsets_are_row_major() -> None:
    off = window_offsets(1, torch.zeros(()))
    assert off[0].tolist() == [-1, -1] and off[4].tolist() == [0, 0] and off[5].tolist() == [1, 0]


# ------------------------------------------------------------------------------------------ learned form


def test_cross_entropy_is_minimal_at_the_true_offset() -> None:
    from analogist.methods.samnet.learned import matching_loss

    radius = 4
    off = window_offsets(radius, torch.zeros(()))
    true = torch.tensor([2.0, -1.0])
    losses = {}
    for cand in off.tolist():
        # a synthetic correlation peaking at the candidate offset in every cell
        d2 = ((off - torch.tensor(cand)) ** 2).sum(1)
        logits = (-d2 * 2.0)[:, None, None].expand(-1, 5, 6)
        losses[tuple(cand)] = float(matching_loss(logits, true[:, None, None].expand(2, 5, 6), radius))
    assert min(losses, key=losses.get) == (2.0, -1.0)
    # cells whose true offset is outside the window are truncated away
    far = torch.full((2, 5, 6), 7.0)
    assert float(matching_loss(torch.randn(81, 5, 6), far, radius)) == 0.0


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("imgs")
    for name in ("cat.jpg", "astronaut.jpg", "coffee.jpg"):
        Image.open(example_path(name)).convert("RGB").resize((160, 160)).save(folder / f"{name}.png")
    return folder


@pytest.mark.slow
def test_training_lowers_the_loss_and_resumes_exactly(tiny_folder: Path, tmp_path: Path) -> None:
    from analogist.methods.samnet.train import SAMNetTask, SAMNetTrainSettings
    from analogist.training import TrainConfig, fit, load_checkpoint

    settings = SAMNetTrainSettings(size=128, batch=1, unroll=2, lr=1e-2)
    task = SAMNetTask(str(tiny_folder), settings)
    fixed = task.pair(torch.Generator().manual_seed(5), torch.device("cpu"))

    def loss_on_fixed(models) -> float:
        with torch.no_grad():
            return float(task.losses(models["G"], *fixed)[0])

    torch.set_num_threads(1)
    fresh = fit(task, TrainConfig(steps=0, out=None))
    # a few steps on one pair must lower its loss (the optimisation works end to end)
    overfit = SAMNetTask(str(tiny_folder), settings)
    overfit.pair = lambda generator, device: fixed  # type: ignore[method-assign]
    trained = fit(overfit, TrainConfig(steps=10, out=None))
    assert loss_on_fixed(trained.models) < loss_on_fixed(fresh.models)
    ckpt = tmp_path / "g.pt"
    fit(task, TrainConfig(steps=3, out=ckpt, checkpoint_every=100))
    resumed = fit(task, TrainConfig(steps=6, out=ckpt, checkpoint_every=100))
    straight = fit(task, TrainConfig(steps=6, out=None))
    for a, b in zip(resumed.models["G"].state_dict().values(), straight.models["G"].state_dict().values()):
        assert torch.equal(a, b)
    assert load_checkpoint(ckpt, kind="samnet")["step"] == 6
    # the learned form runs from that checkpoint
    photo = load_image(example_path("cat.jpg"), 128)
    res = sam_net(photo, photo.flip(-1), SAMNetParams(size=None, iters=2, form="learned", checkpoint=str(ckpt)))
    assert res.form == "learned" and torch.isfinite(res.flow).all()


def test_train_cli_refuses_bad_input(tmp_path: Path, capsys) -> None:
    out = tmp_path / "g.pt"
    code, _, err = run_cli(capsys, "train", "samnet", "--images", str(tmp_path / "none"), "--out", str(out))
    assert code == 2 and err.startswith("error:") and not out.exists()


@pytest.mark.slow
def test_demo_entry(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "demo", "-o", str(tmp_path / "d"), "--only", "samnet")
    assert code == 0, err
    assert (tmp_path / "d" / "samnet" / "stylised.png").is_file() and "samnet:" in out
