"""``analogist train samnet``: SAM-Net's matching network G and attribute-transfer decoder on synthetic
pairs, or G's weakly supervised fine-tuning on real pairs (the task lives in
:mod:`analogist.methods.samnet.train`).
"""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..methods.samnet.train import PARTS, SAMNetTask, SAMNetTrainSettings
from .common import float_in, int_in
from .train import add_training_args, run_task


def register_samnet(sub: argparse._SubParsersAction) -> None:
    """``analogist train samnet --images DIR --out CKPT [--part both|G|decoder] [--pairs DIR --init CKPT]``."""
    p = sub.add_parser(
        "samnet",
        help="SAM-Net's matching network G and attribute-transfer decoder",
        description="Train SAM-Net's matching network G and its attribute-transfer decoder (droplink skips) "
        "on synthetic pairs made from a folder of images by random affine and thin-plate-spline warps "
        "with photometric changes (the paper's first step). With --pairs, fine-tune G on a folder of real "
        "image pairs without labels instead (the weakly supervised second step), starting from --init. "
        "Resumes from --out.",
    )
    p.add_argument("--images", default=None, metavar="DIR", help="folder of images (searched recursively)")
    p.add_argument(
        "--pairs",
        default=None,
        metavar="DIR",
        help="folder of real image pairs (NAME_a.EXT + NAME_b.EXT, or subfolders a/ and b/ with the same "
        "names) for the weakly supervised step; trains G only",
    )
    p.add_argument(
        "--init", default=None, metavar="CKPT", help="checkpoint whose networks start the run (e.g. for --pairs)"
    )
    p.add_argument("--part", choices=PARTS, default=None, help="networks to train (default both; G with --pairs)")
    p.add_argument(
        "--size",
        type=int_in(64, 1024),
        default=SAMNetTrainSettings.size,
        help=f"side of the training crops (default {SAMNetTrainSettings.size})",
    )
    p.add_argument("--batch", type=int_in(1, 64), default=SAMNetTrainSettings.batch, help="pairs per step")
    p.add_argument("--lr", type=float_in(1e-6, 1.0), default=SAMNetTrainSettings.lr, help="Adam learning rate of G")
    add_training_args(p, steps=1000, checkpoint_every=50)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    part = args.part or ("G" if args.pairs else "both")
    if args.pairs and part != "G":
        raise InputError("the weakly supervised step (--pairs) trains G only: leave out --part or use --part G")
    if not args.pairs and not args.images:
        raise InputError("give --images DIR (synthetic pairs) or --pairs DIR (real pairs)")
    settings = SAMNetTrainSettings(
        size=args.size, batch=args.batch, lr=args.lr, part=part, pairs=bool(args.pairs), init=args.init
    )
    task = SAMNetTask(args.images, settings, pairs=args.pairs)
    inputs = [d for d in (args.images, args.pairs, args.init) if d]
    return run_task(task, args, inputs=inputs)
