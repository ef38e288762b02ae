"""Checkpoint files: atomic saving, validated loading, networks filled from them (cached for inference),
slim inference copies and the weight lookup.

A checkpoint is a ``torch.save`` dict read back with ``weights_only=True`` (tensors, numbers,
strings, lists and dicts only: opening one never runs code)::

    {"format": "analogist-checkpoint", "version": 1, "kind": "nnst-d", "config": {...},
     "step": 1200, "models": {name: state_dict}, "optimizers": {name: state_dict} (training only),
     "rng": {...} (training only), "history": {"step": [...], loss name: [...]},
     "provenance": {data folders, steps, wall time, device, torch version, seed, ...}}
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputError, WeightsNotFoundError
from ..io import atomic_path

FORMAT = "analogist-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (a checkpoint dict without the format fields) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    return path


def checkpoint_kind(state: dict) -> str | None:
    """What a checkpoint holds (``"nnst-d"``, ``"samnet"``, ``"coat"``, ...): its ``kind``, or the
    ``task`` key the files written before version 0.1's rename carry (the shipped ones among them)."""
    return state.get("kind", state.get("task"))


def load_checkpoint(
    path: str | os.PathLike, *, kind: str | None = None, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read and check a checkpoint written by :func:`save_checkpoint`.

    Raises:
        InputError: missing, unreadable or corrupt file, a file that is not an analogist checkpoint,
            one from a newer version, or (with ``kind``) one of another kind.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such checkpoint file: {path}" if not path.exists() else f"{path} is not a file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # zip, pickle and tensor errors all mean the same thing to a user
        raise InputError(f"{path} is not a readable checkpoint (corrupt or truncated: {type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{path} is not an analogist checkpoint (it has no {FORMAT!r} marker)")
    if not isinstance(state.get("version"), int) or state["version"] > VERSION:
        raise InputError(f"{path} was written by a newer analogist (checkpoint version {state.get('version')})")
    if kind is not None and checkpoint_kind(state) != kind:
        raise InputError(f"{path} is a checkpoint of {checkpoint_kind(state)!r}, not of {kind!r}")
    if not isinstance(state.get("models"), dict):
        raise InputError(f"{path} is an incomplete checkpoint (no models)")
    return state


def load_models(models: dict[str, nn.Module], state: dict[str, Any], *, missing_ok: bool = False) -> None:
    """Fill each of ``models`` ``{name: module}`` from the checkpoint dict ``state`` (its ``models[name]``);
    a name the checkpoint lacks is a ``KeyError`` unless ``missing_ok`` (the module then keeps its weights)."""
    for name, module in models.items():
        if name in state["models"] or not missing_ok:
            module.load_state_dict(state["models"][name])


@dataclass(frozen=True)
class Trained:
    """The networks of a checkpoint, ready for inference: ``models`` in eval mode, float32, without
    gradients, on one device; the checkpoint's ``config`` and ``provenance``, and its ``path``."""

    path: Path
    models: dict[str, nn.Module]
    config: dict[str, Any]
    provenance: dict[str, Any]


_TRAINED: dict[tuple[str, str, str], tuple[tuple[int, int, int], Trained]] = {}
_TRAINED_LOCK = threading.Lock()


def load_trained(
    path: str | os.PathLike,
    kind: str,
    build: Callable[[dict[str, Any]], dict[str, nn.Module]],
    *,
    device: torch.device | str = "cpu",
    what: str = "networks",
) -> Trained:
    """The networks of the checkpoint ``path`` of ``kind`` on ``device`` (see :class:`Trained`).

    ``build(state)`` makes the untrained modules ``{name: module}`` from the checkpoint dict (its
    config); each is filled from the checkpoint's model of that name. Cached per file, modification
    and device: the same modules come back until the file changes, so weights are read and moved to a
    device once (callers must not modify them).

    Raises:
        InputError: an unreadable or foreign file, or one whose networks this version cannot build or
            fill (``what`` names them in the message).
    """
    path = Path(path)
    stat = path.stat() if path.is_file() else None
    version = (stat.st_mtime_ns, stat.st_size, stat.st_ino) if stat else (0, 0, 0)
    key = (kind, str(path.resolve()), str(torch.device(device)))
    with _TRAINED_LOCK:
        cached = _TRAINED.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        state = load_checkpoint(path, kind=kind)
        try:
            models = build(state)
            load_models(models, state)
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError):
            raise InputError(f"{path} does not hold {what} this version can read") from None
        for module in models.values():
            module.float().eval().requires_grad_(False).to(device)
        trained = Trained(path, models, state.get("config", {}), state.get("provenance", {}))
        _TRAINED[key] = (version, trained)  # the file's earlier version, if any, is dropped
        return trained


def slim(state: dict[str, Any], models: list[str] | None = None) -> dict[str, Any]:
    """An inference copy of a checkpoint dict: no optimizer or RNG state, only ``models`` (default all)."""
    keep = {k: v for k, v in state.items() if k not in ("optimizers", "rng", "format", "version")}
    names = models if models is not None else list(state["models"])
    missing = [n for n in names if n not in state["models"]]
    if missing:
        raise InputError(f"the checkpoint has no model {missing[0]!r}: it has {', '.join(state['models'])}")
    keep["models"] = {n: state["models"][n] for n in names}
    return keep


# ------------------------------------------------------------------------------------------- lookup
def bundled_dir() -> Path:
    """``analogist/data/checkpoints``: checkpoints shipped with the package."""
    return Path(str(resources.files("analogist.data") / "checkpoints"))


def checkpoint_env_var(name: str) -> str:
    """``ANALOGIST_<NAME>_CHECKPOINT`` for a checkpoint kind such as ``nnst-d``."""
    return "ANALOGIST_" + name.upper().replace("-", "_") + "_CHECKPOINT"


def checkpoint_candidates(name: str, filename: str, explicit: str | os.PathLike | None = None) -> list[Path]:
    """Where the checkpoint of kind ``name`` is looked for, in order: ``explicit``, the environment
    variable, ``$ANALOGIST_WEIGHTS_DIR/filename``, the bundled file."""
    paths = [Path(explicit)] if explicit else []
    if os.environ.get(checkpoint_env_var(name)):
        paths.append(Path(os.environ[checkpoint_env_var(name)]))
    if os.environ.get("ANALOGIST_WEIGHTS_DIR"):
        paths.append(Path(os.environ["ANALOGIST_WEIGHTS_DIR"]) / filename)
    paths.append(bundled_dir() / filename)
    return paths


def find_checkpoint(name: str, filename: str, explicit: str | os.PathLike | None = None) -> Path | None:
    """First existing candidate of :func:`checkpoint_candidates`, or ``None``.

    An explicit path that does not exist is an error rather than a reason to look elsewhere.
    """
    if explicit and not Path(explicit).is_file():
        raise InputError(f"checkpoint file {explicit} does not exist")
    return next((p for p in checkpoint_candidates(name, filename, explicit) if p.is_file()), None)


def resolve_checkpoint(name: str, filename: str, explicit: str | os.PathLike | None = None) -> Path:
    """Like :func:`find_checkpoint` but raises :class:`WeightsNotFoundError` saying where to put one."""
    found = find_checkpoint(name, filename, explicit)
    if found is None:
        raise WeightsNotFoundError(
            f"no {name} checkpoint found: train one with `analogist train {name}`, then pass its path, "
            f"set {checkpoint_env_var(name)}, or put it in $ANALOGIST_WEIGHTS_DIR as {filename}"
        )
    return found


__all__ = [
    "FORMAT",
    "VERSION",
    "save_checkpoint",
    "load_checkpoint",
    "load_models",
    "Trained",
    "load_trained",
    "slim",
    "bundled_dir",
    "checkpoint_env_var",
    "checkpoint_candidates",
    "find_checkpoint",
    "resolve_checkpoint",
]
