"""SAM-Net's learned form: the droplink decoder (Eq. 10), its training, and the weakly supervised step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from cli_helpers import run_cli
from PIL import Image, ImageEnhance

from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image
from analogist.matching.affine_field import identity_field
from analogist.methods.samnet.transfer import AttributeDecoder, droplink
from analogist.methods.samnet.weak import cycle_error
from analogist.training.pairs import PairFolder, pair_files


def test_droplink_keeps_the_expected_fraction_in_training_and_is_deterministic_at_test() -> None:
    skip = torch.ones(4000, 1, 2, 2)
    gen = torch.Generator().manual_seed(0)
    kept = droplink(skip, training=True, keep=0.9, generator=gen)
    per_sample = kept.flatten(1)
    # whole skips are kept or dropped, never rescaled
    assert set(per_sample.unique().tolist()) <= {0.0, 1.0}
    assert (per_sample.min(1).values == per_sample.max(1).values).all()
    assert abs(float(per_sample[:, 0].mean()) - 0.9) < 0.02
    again = droplink(skip, training=True, keep=0.9, generator=torch.Generator().manual_seed(0))
    assert torch.equal(kept, again)
    test = droplink(skip * 3, training=False, weight=0.5)
    assert torch.equal(test, torch.full_like(skip, 1.5))


def test_decoder_is_deterministic_in_eval_and_its_skips_matter() -> None:
    torch.manual_seed(0)
    dec = AttributeDecoder(12, [8, 6], widths=(16, 12, 8)).eval().requires_grad_(False)
    b, skips = torch.randn(1, 12, 4, 5), [torch.randn(1, 8, 8, 10), torch.randn(1, 6, 16, 20)]
    out = dec(b, skips, (32, 40))
    assert out.shape == (1, 3, 32, 40) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert torch.equal(out, dec(b, skips, (32, 40)))
    assert not torch.equal(out, dec(b, skips, (32, 40), weight=0.0))
    dec.train()
    drawn = [dec(b.expand(64, -1, -1, -1), [s.expand(64, -1, -1, -1) for s in skips], (32, 40)) for _ in range(2)]
    assert not torch.equal(drawn[0], drawn[1])  # skips dropped at random in training


@pytest.fixture(scope="module")
def pair_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pairs")
    for i, (a, b) in enumerate([("cat.jpg", "cat_painting.jpg"), ("astronaut.jpg", "coffee.jpg")]):
        Image.open(example_path(a)).convert("RGB").resize((96, 80)).save(folder / f"p{i}_a.png")
        Image.open(example_path(b)).convert("RGB").resize((90, 96)).save(folder / f"p{i}_b.jpg")
    return folder


@pytest.fixture(scope="module")
def shifted_pairs(tmp_path_factory) -> Path:
    """Real-looking pairs with an unknown (to the training) shift and a colour change."""
    folder = tmp_path_factory.mktemp("shifted")
    for i, name in enumerate(["cat.jpg", "astronaut.jpg"]):
        im = Image.open(example_path(name)).convert("RGB").resize((160, 160))
        im.crop((0, 0, 128, 128)).save(folder / f"p{i}_a.png")
        ImageEnhance.Color(im.crop((24, 16, 152, 144))).enhance(0.3).save(folder / f"p{i}_b.png")
    return folder


def test_pair_folder_layouts_and_one_sentence_errors(pair_folder: Path, tmp_path: Path) -> None:
    pairs = pair_files(pair_folder)
    assert [(a.name, b.name) for a, b in pairs] == [("p0_a.png", "p0_b.jpg"), ("p1_a.png", "p1_b.jpg")]
    sub = tmp_path / "sub"
    for side, src in (("a", "p0_a.png"), ("b", "p0_b.jpg")):
        (sub / side).mkdir(parents=True)
        (sub / side / "x.png").write_bytes((pair_folder / src).read_bytes())
    assert len(pair_files(sub)) == 1
    a, b = PairFolder(pair_folder, size=32).sample(3, torch.Generator().manual_seed(0))
    assert a.shape == b.shape == (3, 3, 32, 32)
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "q_a.png").write_bytes((pair_folder / "p0_a.png").read_bytes())
    with pytest.raises(InputError, match="no 'b' partner"):
        pair_files(lonely)
    (lonely / "stray.png").write_bytes((pair_folder / "p0_a.png").read_bytes())
    with pytest.raises(InputError, match="not part of a pair"):
        pair_files(lonely)


def test_cycle_error_is_zero_for_the_identity_and_grows_with_a_shift() -> None:
    ident = identity_field((6, 7))
    assert float(cycle_error(ident, ident)) < 1e-6
    moved = ident.clone()
    moved[2] += 1.0
    assert abs(float(cycle_error(moved, ident)) - 1.0) < 0.2


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _fits_and_resumes(make_task, pin, loss, name: str, steps: int, tmp_path: Path):
    """Training on one fixed batch (``pin(task)`` fixes it) lowers ``loss(models)``; 2 + 2 steps through a
    checkpoint end with network ``name`` equal to 4 straight steps. Returns (fresh, resumed) states and
    the checkpoint."""
    from analogist.training import TrainConfig, fit

    torch.set_num_threads(1)
    fresh = fit(make_task(), TrainConfig(steps=0, out=None))
    overfit = make_task()
    pin(overfit)
    trained = fit(overfit, TrainConfig(steps=steps, out=None))
    assert loss(trained.models) < loss(fresh.models)
    ckpt = tmp_path / "ckpt.pt"
    fit(make_task(), TrainConfig(steps=2, out=ckpt, checkpoint_every=100))
    resumed = fit(make_task(), TrainConfig(steps=4, out=ckpt, checkpoint_every=100))
    straight = fit(make_task(), TrainConfig(steps=4, out=None))
    assert _same(resumed.models[name], straight.models[name])
    return fresh, trained, resumed, ckpt


@pytest.mark.slow
def test_decoder_training_lowers_its_loss_and_resumes_exactly(shifted_pairs: Path, tmp_path: Path) -> None:
    from analogist.methods.samnet import SAMNetParams, sam_net
    from analogist.methods.samnet.train import SAMNetTask, SAMNetTrainSettings

    settings = SAMNetTrainSettings(size=96, batch=1, part="decoder", lr_decoder=3e-3)
    task = SAMNetTask(str(shifted_pairs), settings)
    fixed = task.pair(torch.Generator().manual_seed(3), torch.device("cpu"))
    lam = torch.tensor([0.7])

    def loss(models) -> float:
        with torch.no_grad():
            return float(task.decoder_losses(models["D"].eval(), *fixed, lam)[0])

    def pin(t: SAMNetTask) -> None:
        t.pair = lambda generator, device: fixed  # type: ignore[method-assign]

    fresh, trained, _, ckpt = _fits_and_resumes(
        lambda: SAMNetTask(str(shifted_pairs), settings), pin, loss, "D", 8, tmp_path
    )
    assert _same(trained.models["G"], fresh.models["G"])  # only the decoder trains
    # the learned form decodes with it, and the training-free form can borrow it
    photo = load_image(example_path("cat.jpg"), 96)
    for form, decoder in (("learned", "auto"), ("training-free", "learned")):
        params = SAMNetParams(size=None, iters=2, form=form, transfer=decoder, checkpoint=str(ckpt))
        res = sam_net(photo, photo.flip(-1), params)
        assert torch.isfinite(res.stylised).all() and res.stylised.shape == photo.shape


@pytest.mark.slow
def test_weak_supervision_lowers_its_loss_and_resumes_exactly(shifted_pairs: Path, tmp_path: Path) -> None:
    from analogist.methods.samnet.train import SAMNetTask, SAMNetTrainSettings
    from analogist.methods.samnet.weak import weak_losses
    from analogist.training import TrainConfig, fit

    settings = SAMNetTrainSettings(size=128, batch=1, unroll=2, lr=3e-3, part="G", pairs=True)
    task = SAMNetTask(None, settings, pairs=str(shifted_pairs))
    fixed = task.pair_folder.sample(1, torch.Generator().manual_seed(1))

    def loss(models) -> float:
        with torch.no_grad():
            return float(weak_losses(task.net, task.settings, models["G"], *fixed)[0])

    def pin(t: SAMNetTask) -> None:
        t.pair_folder.sample = lambda n, generator: fixed  # type: ignore[method-assign]

    _, _, resumed, ckpt = _fits_and_resumes(
        lambda: SAMNetTask(None, settings, pairs=str(shifted_pairs)), pin, loss, "G", 15, tmp_path
    )
    # the second step starts from the first one's networks
    init = dataclasses.replace(settings, init=str(ckpt))
    started = fit(SAMNetTask(None, init, pairs=str(shifted_pairs)), TrainConfig(steps=0, out=None))
    assert _same(started.models["G"], resumed.models["G"])


@pytest.mark.parametrize(
    "argv",
    [
        ["--pairs", "NOPE"],
        ["--pairs", "LONELY"],
        ["--pairs", "PAIRS", "--part", "decoder"],
        [],
    ],
)
def test_train_cli_pairs_errors_are_one_line(argv: list[str], pair_folder: Path, tmp_path: Path, capsys) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "q_b.png").write_bytes((pair_folder / "p0_a.png").read_bytes())
    subs = {"NOPE": str(tmp_path / "nope"), "LONELY": str(lonely), "PAIRS": str(pair_folder)}
    out = tmp_path / "g.pt"
    code, _, err = run_cli(capsys, "train", "samnet", *[subs.get(a, a) for a in argv], "--out", str(out))
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize(("argv", "backbone"), [([], "efficientnet-lite0"), (["--backbone", "vgg16"], "vgg16")])
def test_eval_samnet_uses_its_own_backbone_unless_one_is_given(
    argv: list[str], backbone: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    import analogist.cli.eval as cli_eval

    csv = tmp_path / "pairs.csv"
    a, b = example_path("cat.jpg"), example_path("cat_painting.jpg")
    csv.write_text(f"source_image,target_image,class,XA,YA,XB,YB\n{a},{b},1,10;20,10;20,12;22,11;21\n")
    seen = {}

    def fake(kind, pairs, config, **kw):
        seen["config"] = config
        raise InputError("stop here")

    monkeypatch.setattr(cli_eval, "evaluate", fake)
    code, _, err = run_cli(capsys, "eval", "--dataset", "pairs-csv", str(csv), "--method", "samnet", *argv)
    assert code == 2 and "stop here" in err
    assert seen["config"].backbone == backbone
    assert seen["config"].size == (448 if backbone == "efficientnet-lite0" else 224)
