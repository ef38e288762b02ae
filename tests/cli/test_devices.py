"""``--device`` on every method command, device resolution, per-device backbone copies, stylize's preset."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from analogist.cli import build_parser, main
from analogist.cli.stylize import default_preset, params_from_args
from analogist.data import example_path
from analogist.errors import InputError
from analogist.features import get_backbone, hed_edges
from analogist.io import load_image
from analogist.training.device import on_cpu, resolve_device

#: every command that runs a method (subcommand name -> its parser)
METHOD_COMMANDS = (
    "analogy",
    "timelapse",
    "buddies",
    "align",
    "hybrid",
    "morph",
    "features",
    "stylize",
    "samnet",
    "appearance",
    "video",
    "eval",
    "web",
    "batch",
)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _minimal_argv(sub: argparse.ArgumentParser) -> list[str]:
    """Placeholder values for the positional and required arguments of ``sub`` (parsing only)."""
    argv: list[str] = []
    for act in sub._actions:
        if (act.option_strings and not act.required) or isinstance(act, argparse._HelpAction):
            continue
        count = act.nargs if isinstance(act.nargs, int) else 1
        value = str(next(iter(act.choices))) if act.choices else "x.png"
        argv += act.option_strings[:1] + [value] * count
    return argv


@pytest.mark.parametrize("command", METHOD_COMMANDS)
def test_every_method_command_takes_device(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _subparsers()[command]
    argv = [command, *_minimal_argv(sub)]
    assert build_parser().parse_args([*argv, "--device", "cpu"]).device == torch.device("cpu")
    assert build_parser().parse_args(argv).device == resolve_device("auto")  # the default is auto
    if torch.cuda.is_available():
        return
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--device", "cuda"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: argument --device: device cuda was asked for")


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")


def test_backbone_copies_are_per_device(device: torch.device) -> None:
    cpu = get_backbone("efficientnet-lite0")
    here = get_backbone("efficientnet-lite0", device=device)
    assert here is get_backbone("efficientnet-lite0", device=str(device))  # moved once, then reused
    assert next(here.parameters()).device.type == device.type
    assert next(cpu.parameters()).device.type == "cpu"  # the CPU copy is never moved away
    if device.type != "cpu":
        assert here is not cpu
    edges = hed_edges(torch.rand(1, 3, 32, 40, device=device))
    assert edges.shape == (1, 1, 32, 40) and edges.device.type == device.type


@dataclass
class _Result:
    image: torch.Tensor
    points: list[torch.Tensor]
    name: str


def test_on_cpu_moves_every_tensor(device: torch.device) -> None:
    r = _Result(torch.ones(2, device=device), [torch.zeros(1, device=device)], "x")
    moved = on_cpu({"r": r, "t": (torch.ones(1, device=device),)})
    assert moved["r"].image.device.type == "cpu" and moved["r"].points[0].device.type == "cpu"
    assert moved["t"][0].device.type == "cpu" and moved["r"].name == "x"


def test_stylize_default_preset_follows_the_device(caplog: pytest.LogCaptureFixture) -> None:
    assert default_preset(torch.device("cpu")) == "fast"
    assert default_preset(torch.device("cuda")) == "paper"
    parser = _subparsers()["stylize"]
    args = parser.parse_args(["c.png", "s.png", "-o", "o.png", "--device", "cpu"])
    with caplog.at_level(logging.INFO, logger="analogist"):
        params = params_from_args(args)
    assert params.steps == 24  # the fast preset
    assert [r.getMessage() for r in caplog.records] == ["preset fast, the default on a CPU (choose with --preset)"]
    caplog.clear()
    args = parser.parse_args(["c.png", "s.png", "-o", "o.png", "--device", "cpu", "--preset", "paper"])
    with caplog.at_level(logging.INFO, logger="analogist"):
        assert params_from_args(args).steps == 200
    assert [r.getMessage() for r in caplog.records] == ["preset paper"]


def test_features_cli_runs_on_each_device(tmp_path: Path, device: torch.device) -> None:
    out = tmp_path / "f.png"
    code = main(["features", str(example_path("cat.jpg")), "-o", str(out), "--size", "64", "--device", str(device)])
    assert code == 0 and load_image(out).shape[-2:] != (0, 0)
