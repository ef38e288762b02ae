"""``analogist train <method>``: train the learned parts of analogist with the shared framework.

Each method adds its own subparser through a ``register_<method>(sub)`` function listed in
:data:`HOOKS` (module, function); the function adds its arguments (with :func:`add_training_args`
for the common ones), and its ``run(args)`` builds the method's :class:`~analogist.training.TrainTask`
and hands it to :func:`run_task`, which owns the output checks, the progress display, the log lines
and Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import InputError
from ..outputs import OutputPlan
from ..training import DEVICES, TrainConfig, TrainTask, fit
from .common import int_in

#: ``(module, function)``: each function adds one ``analogist train`` subparser. Add yours here.
HOOKS: tuple[tuple[str, str], ...] = (
    (".train_nnst_d", "register_nnst_d"),
    (".train_coat", "register_coat"),
    (".train_samnet", "register_samnet"),
)

EXIT_INTERRUPTED = 130


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a learned method (resumable checkpoints, seeded, --device)")
    methods = p.add_subparsers(dest="method", metavar="METHOD", parser_class=type(p))
    for module, function in HOOKS:
        getattr(importlib.import_module(module, __package__), function)(methods)
    p.set_defaults(func=lambda args: _no_method(p))


def _no_method(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def add_training_args(p: argparse.ArgumentParser, *, steps: int, checkpoint_every: int = 100) -> None:
    """The options every ``analogist train`` method shares."""
    p.add_argument(
        "--out", required=True, metavar="CKPT", help="checkpoint file to write; if it exists, training resumes from it"
    )
    p.add_argument(
        "--steps",
        type=int_in(0, 10**8),
        default=steps,
        help=f"total optimisation steps to reach (default {steps}); a resumed run continues up to it",
    )
    p.add_argument("--seed", type=int_in(0, 2**31 - 1), default=0, help="random seed (default 0)")
    p.add_argument(
        "--device",
        default="auto",
        metavar="|".join(DEVICES),
        help="where to train: auto (a GPU where present), cpu or cuda (default auto)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int_in(1, 10**8),
        default=checkpoint_every,
        metavar="N",
        help=f"save the checkpoint every N steps (default {checkpoint_every}); Ctrl-C saves it too",
    )
    p.add_argument(
        "--threads",
        type=int_in(1, 1024),
        default=None,
        help="CPU threads torch may use (default: all; use 1 on a shared machine)",
    )
    p.add_argument(
        "--log-every",
        type=int_in(1, 10**8),
        default=50,
        metavar="N",
        help="print one line of losses every N steps when stderr is not a terminal (default 50)",
    )


def run_task(task: TrainTask, args: argparse.Namespace, inputs: Sequence[str | Path] = ()) -> int:
    """Run ``task`` with the common options of :func:`add_training_args`; ``inputs`` are the data
    folders (the checkpoint may not be one of them)."""
    # The plan only checks the path: a checkpoint is written repeatedly (atomically) and must survive
    # an interruption, so it is not removed on failure as a plan's outputs are.
    out = OutputPlan.file(args.out, inputs=list(inputs)).path(None)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        steps=args.steps, seed=args.seed, device=args.device, checkpoint_every=args.checkpoint_every, out=out
    )
    start = time.perf_counter()
    piped = not sys.stderr.isatty()

    def log(step: int, losses: dict[str, float]) -> None:
        if piped and not args.quiet and (step % args.log_every == 0 or step == cfg.steps):
            text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
            sys.stderr.write(f"step {step}/{cfg.steps} {text} ({time.perf_counter() - start:.0f} s)\n")
            sys.stderr.flush()

    try:
        state = fit(task, cfg, progress=args.progress, on_step=log)
    except KeyboardInterrupt:
        sys.stderr.write(f"interrupted: checkpoint saved to {out}; run the same command again to resume\n")
        return EXIT_INTERRUPTED
    if state.resumed_from >= cfg.steps:
        if not args.quiet:
            print(f"{out} already has {state.resumed_from} steps (asked for {cfg.steps}): nothing to do")
        return 0
    p = state.provenance
    if not args.quiet:
        print(
            f"trained {task.name}: steps {state.resumed_from} -> {state.step} on {p['device']} in "
            f"{time.perf_counter() - start:.1f} s ({p['wall_seconds']:.0f} s in all); checkpoint {out}"
        )
    return 0


__all__ = ["HOOKS", "register", "add_training_args", "run_task", "InputError"]
