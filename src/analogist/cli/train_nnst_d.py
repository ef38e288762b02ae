"""``analogist train nnst-d``: train the NNST-D decoder (:mod:`analogist.methods.nnst.train`)."""

from __future__ import annotations

import argparse

from ..features.hypercolumn import BACKBONES
from ..methods.nnst.train import SCALES, NNSTDecoderTask, NNSTDSettings
from ..synthesis.decoder import DecoderConfig
from .common import float_in, int_in
from .train import add_training_args, run_task


def register_nnst_d(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nnst-d",
        help="the NNST-D decoder of Neural Neighbor Style Transfer",
        description="Train the feed-forward NNST-D decoder on content photographs and style "
        "artworks (losses of the paper's section 3.3.2). Resumes from --out.",
    )
    p.add_argument(
        "--content", required=True, metavar="DIR", help="folder of content photographs (searched recursively)"
    )
    p.add_argument("--style", required=True, metavar="DIR", help="folder of style artworks (searched recursively)")
    p.add_argument(
        "--scale",
        type=int,
        choices=SCALES,
        default=64,
        help="side of the training crops in pixels (default 64; the paper trains one decoder per scale)",
    )
    p.add_argument("--batch", type=int_in(1, 256), default=4, help="images per step (default 4, as the paper)")
    p.add_argument("--lr", type=float_in(1e-6, 1.0), default=NNSTDSettings.lr, help="Adam learning rate")
    p.add_argument(
        "--hidden",
        type=int_in(8, 512),
        default=DecoderConfig.hidden,
        help=f"hidden channels of each branch (default {DecoderConfig.hidden}; the paper: 256)",
    )
    p.add_argument(
        "--reduce",
        type=int_in(0, 2688),
        default=DecoderConfig.reduce,
        help=f"1x1 reduction of the 2688 input channels (default {DecoderConfig.reduce}; 0: none, as the paper)",
    )
    p.add_argument(
        "--w-adv",
        type=float_in(0.0, 100.0),
        default=NNSTDSettings.w_adv,
        help=f"weight of the adversarial loss (default {NNSTDSettings.w_adv})",
    )
    p.add_argument("--backbone", choices=BACKBONES, default="vgg16-hed", help="VGG16 weights (default vgg16-hed)")
    p.add_argument("--weights", default=None, metavar="PATH", help="explicit weight file for the backbone")
    add_training_args(p, steps=2000, checkpoint_every=50)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = NNSTDSettings(
        scale=args.scale,
        batch=args.batch,
        lr=args.lr,
        w_adv=args.w_adv,
        backbone=args.backbone,
        decoder=DecoderConfig(reduce=args.reduce or None, hidden=args.hidden),
    )
    task = NNSTDecoderTask(args.content, args.style, settings, weights=args.weights)
    return run_task(task, args, inputs=[args.content, args.style])
