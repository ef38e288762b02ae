"""``analogist stylize``: Neural Neighbor Style Transfer (NNST-Opt, Kolkin et al. 2022)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data import example_path
from ..errors import InputError
from ..features.hypercolumn import BACKBONES
from ..io import load_image
from ..methods.nnst import PRESETS, StylizeParams, find_decoder, preset, preset_or_fast, stylize
from ..outputs import OutputPlan
from ..progress import Progress
from .common import add_backbone, add_device, add_size, float_in, int_in

log = logging.getLogger("analogist")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize", help="render a content image in the style of another (Neural Neighbor Style Transfer)"
    )
    p.add_argument("content", help="content image")
    p.add_argument("style", help="style image (resized to the same longer side)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="output picture (.png/.jpg)")
    add_size(p, 512)
    add_device(p)
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help="paper: the paper's settings (200 steps per scale; the default on a GPU); fast: 24 steps per "
        "scale, about 9x quicker (the default on a CPU); decoder: NNST-D, a trained feed-forward decoder "
        "(falls back to fast where no checkpoint is found)",
    )
    p.add_argument(
        "--checkpoint",
        "--decoder",
        dest="checkpoint",
        default=None,
        metavar="CKPT",
        help="NNST-D decoder checkpoint (implies --preset decoder; default: looked up, see docs/nnst.md)",
    )
    p.add_argument(
        "--alpha",
        type=float_in(0.0, 1.0),
        default=None,
        help="stylisation level: weight of the previous output in each scale's query (default 0.25)",
    )
    p.add_argument(
        "--steps",
        type=int_in(0, 10000),
        default=None,
        help="Adam steps per scale and in the final splitting phase (default: the preset's)",
    )
    p.add_argument("--no-color", dest="color", action="store_false", help="skip the colour post-processing")
    p.add_argument(
        "--no-rotations",
        dest="rotations",
        action="store_false",
        help="do not add the style's 90/180/270 degree rotations as samples",
    )
    p.add_argument(
        "--content-guide",
        default=None,
        metavar="IMAGE",
        help="label image of the content (regions of one colour take style from the same colour)",
    )
    p.add_argument("--style-guide", default=None, metavar="IMAGE", help="label image of the style")
    p.add_argument("--seed", type=int_in(0, 2**31 - 1), default=0, help="random seed (default 0)")
    add_backbone(p, "vgg16-hed", BACKBONES)
    p.set_defaults(func=run)


def default_preset(device: torch.device) -> str:
    """``paper`` where a GPU runs it in seconds, ``fast`` on a CPU (the paper's 200 steps per scale
    take minutes there)."""
    return "paper" if device.type == "cuda" else "fast"


def params_from_args(args: argparse.Namespace) -> StylizeParams:
    name = args.preset or default_preset(args.device)
    if args.preset is None and not args.checkpoint:
        log.info(f"preset {name}, the default on {'a GPU' if name == 'paper' else 'a CPU'} (choose with --preset)")
    overrides: dict[str, object] = {
        "color": args.color,
        "rotations": args.rotations,
        "seed": args.seed,
        "backbone": args.backbone,
        "weights": args.weights,
    }
    if args.alpha is not None:
        overrides["alpha"] = args.alpha
    if args.steps is not None:
        overrides["steps"] = overrides["split_steps"] = args.steps
    if args.checkpoint or name == "decoder":
        return preset_or_fast("decoder", args.checkpoint, **overrides)
    if args.preset is not None:
        log.info(f"preset {name}")
    return preset(name, **overrides)


def run(args: argparse.Namespace) -> int:
    if (args.content_guide is None) != (args.style_guide is None):
        raise InputError("--content-guide and --style-guide go together")
    inputs = [args.content, args.style] + [g for g in (args.content_guide, args.style_guide) if g]
    plan = OutputPlan.file(args.output, inputs, image=True)
    content = load_image(args.content, args.size)
    style = load_image(args.style, args.size)
    guides = {}
    if args.content_guide:
        # label maps must line up with their images whatever their own resolution
        guides["content_guide"] = F.interpolate(load_image(args.content_guide), size=content.shape[-2:], mode="nearest")
        guides["style_guide"] = F.interpolate(load_image(args.style_guide), size=style.shape[-2:], mode="nearest")
    params = params_from_args(args)  # after every input: its note on the preset is not printed for a refused run
    dev = args.device
    guides = {k: g.to(dev) for k, g in guides.items()}
    result = stylize(content.to(dev), style.to(dev), params, progress=args.progress, **guides).cpu()
    with plan:
        plan.save_image(None, result)
    return 0


def demo(outdir: Path, progress: Progress) -> list[Path]:
    """The bundled astronaut in the bundled swirls style at 160 px with a shortened fast preset, and with
    NNST-D where a decoder checkpoint is found (the sheet then shows both)."""
    decoder = find_decoder()
    names = ["astronaut_swirls.png", "content_style_result.png"] + (["astronaut_swirls_decoder.png"] if decoder else [])
    plan = OutputPlan.folder(outdir, names)
    content = load_image(example_path("astronaut.jpg"), 160)
    style = load_image(example_path("swirls.jpg"), 160)
    params = replace(PRESETS["fast"], steps=30, split_steps=15)
    results = [stylize(content, style, params, progress=progress)]
    if decoder:
        results.append(stylize(content, style, preset("decoder", checkpoint=str(decoder)), progress=progress))
    style_row = F.interpolate(style, size=content.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    sheet = torch.cat([content, style_row, *results], dim=3)
    with plan:
        written = [
            plan.save_image("astronaut_swirls.png", results[0]),
            plan.save_image("content_style_result.png", sheet),
        ]
        if decoder:
            written.append(plan.save_image("astronaut_swirls_decoder.png", results[1]))
        return written
