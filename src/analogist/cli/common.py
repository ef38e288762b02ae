"""Arguments and helpers shared by the subcommands, so every command spells them the same way."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InputError
from ..features import BACKBONES
from ..io import MAX_SIZE, MIN_SIZE, check_size
from ..training.device import on_cpu


def _number(kind: type, lo: float | None, hi: float | None) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text} is out of range [{lo}, {hi}]")
        return value

    parse.__name__ = kind.__name__
    return parse


def int_in(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """argparse type: an integer in ``[lo, hi]``."""
    return _number(int, lo, hi)


def float_in(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """argparse type: a float in ``[lo, hi]``."""
    return _number(float, lo, hi)


def add_size(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument(
        "--size",
        type=int_in(MIN_SIZE, MAX_SIZE),
        default=default,
        help=f"longer image side in pixels after resizing ({MIN_SIZE}..{MAX_SIZE}, default {default})",
    )


def add_backbone(parser: argparse.ArgumentParser, default: str, names: Sequence[str] | None = None) -> None:
    """``--backbone`` offering ``names`` (default every registered backbone) and ``--weights``."""
    names = list(names or BACKBONES)
    parser.add_argument(
        "--backbone",
        default=default,
        choices=names,
        metavar="NAME",
        help=f"feature extractor: {', '.join(names)} (default {default})",
    )
    parser.add_argument(
        "--weights",
        default=None,
        metavar="PATH",
        help="explicit weight file for the backbone (otherwise found automatically)",
    )


def _device(text: str) -> Any:
    from ..training.device import resolve_device

    try:
        return resolve_device(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_device.__name__ = "device"


def add_device(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda[:N]``, resolved while parsing: ``args.device`` is a ``torch.device``,
    and CUDA asked for where none is usable is a one-line usage error (exit 2) before any work."""
    parser.add_argument(
        "--device",
        type=_device,
        default="auto",
        metavar="auto|cpu|cuda[:N]",
        help="where to compute: auto (CUDA where present, else the CPU), cpu, cuda or cuda:N (default auto)",
    )


__all__ = ["int_in", "float_in", "add_size", "add_backbone", "add_device", "on_cpu", "check_size", "InputError"]
