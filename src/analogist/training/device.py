"""The ``--device`` choice of training (and of any command that can run on an accelerator)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..errors import InputError

#: What ``--device`` accepts (``cuda:N`` picks one of several GPUs).
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (CUDA where present, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a device.

    Raises:
        InputError: an unknown name, or CUDA asked for where none is usable (nothing falls back silently:
            a run the user meant for a GPU must not quietly take a hundred times longer).
    """
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {name!r}: use auto, cpu or cuda") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise InputError(f"unknown device {name!r}: use auto, cpu or cuda")
    if not torch.cuda.is_available():
        build = "a CPU-only build of torch" if torch.version.cuda is None else "no usable CUDA device"
        raise InputError(f"device {name} was asked for but this machine has {build}: use --device cpu or auto")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device {name} was asked for but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device


def on_cpu(value: Any) -> Any:
    """``value`` with every tensor in it (dataclass fields, lists, tuples, dicts) moved to the CPU:
    the writers of outputs work on CPU tensors whatever device computed them."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: on_cpu(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        )
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(on_cpu(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(v) for v in value)
    if isinstance(value, dict):
        return {k: on_cpu(v) for k, v in value.items()}
    return value
