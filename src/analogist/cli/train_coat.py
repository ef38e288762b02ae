"""``analogist train coat``: train COAT's learned form (:mod:`analogist.methods.coat.train`)."""

from __future__ import annotations

import argparse

from ..methods.coat.train import COATTask, COATTrainSettings
from .common import float_in, int_in
from .train import add_training_args, run_task


def register_coat(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "coat",
        help="COAT's matcher and decoder (correspondence-driven appearance transfer)",
        description="Train COAT's learned form on images of one object class (faces, cars, ...): "
        "reconstruction, regulariser and correspondence contrastive losses on "
        "synthetic warps of each image. Resumes from --out.",
    )
    p.add_argument("--images", required=True, metavar="DIR", help="folder of training images (searched recursively)")
    p.add_argument(
        "--size",
        type=int_in(32, 1024),
        default=COATTrainSettings.size,
        help=f"side of the training crops, a multiple of 8 (default {COATTrainSettings.size})",
    )
    p.add_argument("--batch", type=int_in(1, 256), default=COATTrainSettings.batch, help="images per step")
    p.add_argument("--lr", type=float_in(1e-7, 1.0), default=COATTrainSettings.lr, help="Adam learning rate")
    p.add_argument("--weights", default=None, metavar="PATH", help="explicit weight file for the VGG16 backbone")
    add_training_args(p, steps=2000, checkpoint_every=50)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    task = COATTask(args.images, COATTrainSettings(size=args.size, batch=args.batch, lr=args.lr), weights=args.weights)
    return run_task(task, args, inputs=[args.images])
