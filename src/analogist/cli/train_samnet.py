"""``analogist train samnet``: SAM-Net's matching network on synthetic pairs (the task lives in
:mod:`analogist.methods.samnet_train`)."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..methods.samnet_train import SAMNetTask, SAMNetTrainSettings
from .common import float_in, int_in
from .train import add_training_args, run_task


def register_samnet(sub: argparse._SubParsersAction) -> None:
    """``analogist train samnet --images DIR --out CKPT [--pairs DIR] [--steps N] [--device ...]``."""
    p = sub.add_parser(
        "samnet",
        help="SAM-Net's matching network G on synthetic pairs",
        description="Train SAM-Net's matching network on synthetic pairs made from a folder of "
        "images by random affine and thin-plate-spline warps with photometric changes "
        "(the paper's first step). Resumes from --out.",
    )
    p.add_argument("--images", required=True, metavar="DIR", help="folder of images (searched recursively)")
    p.add_argument(
        "--pairs",
        default=None,
        metavar="DIR",
        help="folder of real image pairs for the weakly supervised second step (not available yet)",
    )
    p.add_argument(
        "--size",
        type=int_in(64, 1024),
        default=SAMNetTrainSettings.size,
        help=f"side of the training crops (default {SAMNetTrainSettings.size})",
    )
    p.add_argument("--batch", type=int_in(1, 64), default=SAMNetTrainSettings.batch, help="pairs per step")
    p.add_argument("--lr", type=float_in(1e-6, 1.0), default=SAMNetTrainSettings.lr, help="Adam learning rate")
    add_training_args(p, steps=1000, checkpoint_every=50)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.pairs:
        raise InputError("--pairs (weakly supervised fine-tuning on real pairs) is not available yet")
    settings = SAMNetTrainSettings(size=args.size, batch=args.batch, lr=args.lr)
    return run_task(SAMNetTask(args.images, settings), args, inputs=[args.images])
