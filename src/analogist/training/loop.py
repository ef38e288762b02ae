"""The training loop every learned part of analogist shares: seeded, checkpointed, exactly resumable.

A method supplies a :class:`TrainTask` (its networks, optimizers and one update); :func:`fit` runs
it. Resuming from a checkpoint restores the networks, the optimizers, the step, the task's
generator and the global torch, NumPy and Python RNG states, so on a CPU an interrupted and resumed
run ends with the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import InputError
from ..progress import Progress, silent
from .checkpoint import load_checkpoint, load_models, save_checkpoint
from .device import resolve_device


class TrainTask:
    """The method-specific part of a training run (subclass it beside the method).

    ``name`` identifies the task in checkpoints; :meth:`config` holds every setting that must match
    for a checkpoint to be resumed (it is recorded in the checkpoint); :meth:`data` names the data
    folders for the provenance.
    """

    name: str = ""

    def config(self) -> dict[str, Any]:
        """Settings that define the task (numbers, strings, lists): recorded, and checked on resume."""
        return {}

    def data(self) -> dict[str, Any]:
        """The training data, for the provenance (e.g. ``{"content": folder.describe()}``)."""
        return {}

    def build(self, device: torch.device) -> dict[str, nn.Module]:
        """The networks, on ``device``, freshly initialised (the global torch RNG is seeded)."""
        raise NotImplementedError

    def optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def step(
        self,
        models: dict[str, nn.Module],
        optims: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
        step: int,
    ) -> dict[str, float]:
        """One update (``step`` counts from 0); draws its randomness from ``generator`` (CPU). Returns
        the losses to show and record."""
        raise NotImplementedError


@dataclass
class TrainConfig:
    """How to run a task. ``steps`` is the total to reach (a resumed run continues up to it);
    ``out=None`` trains without writing anything."""

    steps: int = 1000
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 100
    out: Path | None = None

    def __post_init__(self) -> None:
        if self.steps < 0 or self.checkpoint_every < 1:
            raise InputError(
                f"steps must be >= 0 and checkpoint_every >= 1 (got {self.steps}, {self.checkpoint_every})"
            )


@dataclass
class TrainState:
    """Where a run stands: ``history`` maps ``"step"`` and every loss name to per-step lists."""

    step: int
    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    history: dict[str, list[float]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    resumed_from: int = 0


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def _set_rng_state(rng: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(rng["generator"])
    torch.set_rng_state(rng["torch"])
    if device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)
    name, keys, *rest = rng["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    py = rng["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


@contextlib.contextmanager
def _own_rngs(device: torch.device) -> Iterator[None]:
    """Give the run its own global RNG states and hand the caller's back afterwards."""
    np_state, py_state = np.random.get_state(), random.getstate()
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[dict[str, bool]]:
    """Turn the first Ctrl-C into a request the loop honours between steps (so the checkpoint it
    then saves is never half an update); a second Ctrl-C interrupts at once."""
    request = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if request["stop"]:
            raise KeyboardInterrupt
        request["stop"] = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _provenance(
    task: TrainTask, cfg: TrainConfig, device: torch.device, prior: dict[str, Any], step: int, seconds: float
) -> dict[str, Any]:
    return {
        "kind": task.name,
        "data": task.data(),
        "seed": cfg.seed,
        "steps": step,
        "wall_seconds": round(prior.get("wall_seconds", 0.0) + seconds, 1),
        "sessions": prior.get("sessions", 0) + 1,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "analogist": __version__,
        "started": prior["started"],
        "updated": _now(),
    }


def fit(
    task: TrainTask,
    cfg: TrainConfig,
    *,
    progress: Progress = silent,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainState:
    """Train ``task`` up to ``cfg.steps`` steps, resuming from ``cfg.out`` if that checkpoint exists.

    Saves ``cfg.out`` atomically every ``cfg.checkpoint_every`` steps, at the end, and on Ctrl-C
    (after the step in progress; then ``KeyboardInterrupt`` is raised again). ``progress`` wraps the
    step loop (a bar that has ``set_postfix`` shows the losses); ``on_step(step, losses)`` is called
    after each step (``step`` counts completed steps). The caller's global RNG states are left as
    they were.

    Raises:
        InputError: ``cfg.out`` is not a checkpoint of this task and configuration.
    """
    device = resolve_device(cfg.device)
    generator = torch.Generator().manual_seed(cfg.seed)
    saved = load_checkpoint(cfg.out, kind=task.name) if cfg.out is not None and Path(cfg.out).exists() else None
    if saved is not None:
        _check_resumable(saved, task, cfg)
    with _own_rngs(device):
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        random.seed(cfg.seed)
        models = task.build(device)
        optims = task.optimizers(models)
        state = TrainState(0, models, optims, {"step": []})
        if saved is not None:
            load_models(models, saved)
            for name, o in optims.items():
                o.load_state_dict(saved["optimizers"][name])
            _set_rng_state(saved["rng"], generator, device)
            state.step = state.resumed_from = saved["step"]
            state.history = {k: list(v) for k, v in saved["history"].items()}
        prior = dict(saved["provenance"]) if saved is not None else {}
        prior.setdefault("started", _now())
        start = time.perf_counter()

        def checkpoint() -> None:
            state.provenance = _provenance(task, cfg, device, prior, state.step, time.perf_counter() - start)
            if cfg.out is None:
                return
            save_checkpoint(
                cfg.out,
                {
                    "kind": task.name,
                    "config": task.config(),
                    "seed": cfg.seed,
                    "step": state.step,
                    "models": {k: m.state_dict() for k, m in models.items()},
                    "optimizers": {k: o.state_dict() for k, o in optims.items()},
                    "rng": _rng_state(generator, device),
                    "history": state.history,
                    "provenance": state.provenance,
                },
            )

        todo = range(state.step, cfg.steps)
        with _deferred_interrupt() as request:
            bar = progress(todo, total=len(todo), desc=f"{task.name} {state.step}->{cfg.steps}")
            for m in models.values():
                m.train()
            for i in bar:
                losses = {k: float(v) for k, v in task.step(models, optims, generator, i).items()}
                state.step = i + 1
                state.history["step"].append(float(state.step))
                for k, v in losses.items():
                    state.history.setdefault(k, []).append(v)
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
                if on_step is not None:
                    on_step(state.step, losses)
                if request["stop"]:
                    checkpoint()
                    raise KeyboardInterrupt
                if state.step % cfg.checkpoint_every == 0 and state.step < cfg.steps:
                    checkpoint()
        if len(todo) or saved is None:
            checkpoint()
        else:
            state.provenance = prior
    for m in models.values():
        m.eval()
    return state


def _check_resumable(saved: dict[str, Any], task: TrainTask, cfg: TrainConfig) -> None:
    ours = {"seed": cfg.seed, **task.config()}
    theirs = {"seed": saved.get("seed"), **saved.get("config", {})}
    diff = [k for k in sorted(set(ours) | set(theirs)) if _plain(ours.get(k)) != _plain(theirs.get(k))]
    if diff:
        k = diff[0]
        raise InputError(
            f"{cfg.out} was trained with {k}={theirs.get(k)!r}, not {ours.get(k)!r}: "
            "use the same settings to resume it, or another output file"
        )
    if "optimizers" not in saved or "rng" not in saved:
        raise InputError(f"{cfg.out} is an inference checkpoint without training state: it cannot be resumed")


def _plain(value: Any) -> Any:
    """Tuples and lists compare equal (a checkpoint stores tuples as lists)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


__all__ = ["TrainTask", "TrainConfig", "TrainState", "fit"]
