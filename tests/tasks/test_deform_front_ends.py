"""The web app's (and the batch's) align and morph find their driving pairs as ``analogist align`` /
``morph`` do: one path (:func:`analogist.apps.pair_search.deform_drivers`), so the same two images at
the same size and options give the same alignment in every front end (the web's size is the command's
``--size``; both search at 224 px)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image

import analogist.apps.pair_fit as pair_fit
import analogist.cli.buddies as cli_buddies
from analogist.apps.pair_search import DEFORM_BACKBONE
from analogist.cli import build_parser
from analogist.data import example_path
from analogist.errors import InputError
from analogist.outputs import OutputPlan
from analogist.progress import silent
from analogist.tasks import get_task, output_names

SIZE = 96
CAT, PAINTING = example_path("cat.jpg"), example_path("cat_painting.jpg")


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_align_task_and_the_command_give_the_same_alignment(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    task = get_task("align")
    size, opts = task.parse({"size": str(SIZE)})
    a, b = task.load_inputs(CAT, PAINTING, size)
    web = tmp_path / "web"
    with OutputPlan.folder(web, output_names(task, opts), inputs=[CAT, PAINTING]) as plan:
        task.run(a, b, opts, plan, silent)
    cli = tmp_path / "cli"
    argv = ["align", str(CAT), str(PAINTING), "-o", str(cli), "--size", str(SIZE)]  # the search at its default
    code, _, err = run_cli(capsys, *argv, "--k", str(opts["k"]), "--gamma", str(opts["gamma"]), "--kind", opts["kind"])
    assert code == 0, err
    for name in ("blend.png", "aligned_a.png", "aligned_b.png", "flow.png"):
        assert np.array_equal(_pixels(web / name), _pixels(cli / name)), name
    assert (web / "flow.flo").read_bytes() == (cli / "flow.flo").read_bytes()


def test_the_front_ends_share_their_defaults() -> None:
    """The task's options and the command's flags start alike, so the defaults agree as well."""
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name in ("align", "morph"):
        flags = sub[name].parse_args(["a", "b", "-o", "out"])
        opts = get_task(name).parse({})[1]
        assert flags.backbone == DEFORM_BACKBONE
        assert (flags.k, flags.gamma, flags.kind) == (opts["k"], opts["gamma"], opts["kind"])


def test_hybrid_refuses_fewer_than_three_drivers_in_every_front_end(tmp_path, capsys, monkeypatch) -> None:
    """With two consistent pairs the hybrid's images would lie unaligned: the command refuses as the
    web does (each front end's hint names its own options), and writes nothing."""

    def two(points, ranks, k, **kw):
        return torch.arange(2)

    monkeypatch.setattr(pair_fit, "select_pairs", two)
    monkeypatch.setattr(cli_buddies, "select_pairs", two)
    task = get_task("hybrid")
    size, opts = task.parse({"size": str(SIZE), "iters": "0"})
    a, b = task.load_inputs(CAT, PAINTING, size)
    with pytest.raises(InputError) as web:
        with OutputPlan.folder(tmp_path / "web", output_names(task, opts), inputs=[CAT, PAINTING]) as plan:
            task.run(a, b, opts, plan, silent)
    cli = tmp_path / "cli"
    code, _, err = run_cli(
        capsys, "hybrid", str(CAT), str(PAINTING), "-o", str(cli), "--size", str(SIZE), "--iters", "0"
    )
    refusal = "only 2 consistent best buddies were found: a warp needs 3; try "
    assert str(web.value).startswith(refusal)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith(f"error: {refusal}")
    assert not (cli / "hybrid.png").exists()
