"""``analogist appearance``: correspondence-driven object appearance transfer (COAT, Jeon et al. 2022)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..data import example_path
from ..errors import InputError
from ..io import load_image
from ..methods.coat import FORMS, MAX_LEVEL, COATParams, coat_levels
from ..outputs import OutputPlan
from ..progress import Progress
from ..tasks.appearance import outputs, write_outputs
from .common import add_backbone, add_device, add_size, float_in, int_in, on_cpu


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("appearance", help="give an object the part-by-part appearance of another (COAT)")
    p.add_argument("content", help="content image: its structure is kept")
    p.add_argument("style", help="style image: its texture, colour and material move onto the content")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    add_size(p, 256)
    add_device(p)
    p.add_argument(
        "--texture-level",
        type=int_in(0, MAX_LEVEL),
        default=COATParams.texture_level,
        metavar="N",
        help=f"how many coarse scales keep the content's features (0..{MAX_LEVEL}; smaller moves "
        f"more texture; default {COATParams.texture_level})",
    )
    p.add_argument(
        "--threshold",
        type=float_in(1e-6, 1.0),
        default=1.0,
        metavar="T",
        help="confident correspondences need soft mutual consistency Q >= T (1: mutual nearest "
        "neighbours only, the paper; lower swaps more positions)",
    )
    p.add_argument(
        "--fill",
        type=float_in(0.0, 1.0),
        default=COATParams.fill,
        metavar="F",
        help="free form: how far the texture scales outside the confident set take their part's style "
        f"feature, where confident pairs agree with SAM-Net's parts (0: the paper's swap alone; default {COATParams.fill:g})",
    )
    p.add_argument(
        "--form",
        choices=(*FORMS, "free"),
        default="training-free",
        help="training-free (or free): synthesis by optimisation (default); learned: the trained decoder "
        "(a checkpoint)",
    )
    p.add_argument("--checkpoint", default=None, metavar="CKPT", help="learned form: explicit decoder checkpoint")
    p.add_argument(
        "--no-color",
        dest="color",
        action="store_false",
        help="skip the part-by-part colour step (the style's local colour along the matches)",
    )
    p.add_argument(
        "--sheet-levels",
        default="",
        metavar="N,N,...",
        help="also write sheet.png: content, style and the result at these texture levels, e.g. 0,1,2,3 "
        "(each level is one more synthesis; default: no sheet, one synthesis)",
    )
    p.add_argument(
        "--steps",
        type=int_in(0, 10000),
        default=None,
        help=f"free form: Adam steps per scale (default {COATParams.steps})",
    )
    add_backbone(p, "vgg16-hed", ("vgg16-hed", "vgg16"))
    p.set_defaults(func=run)


def _levels(text: str) -> list[int]:
    try:
        levels = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise InputError(f"--sheet-levels must be comma-separated whole numbers, got {text!r}") from None
    if any(not 0 <= n <= MAX_LEVEL for n in levels):
        raise InputError(f"--sheet-levels must be between 0 and {MAX_LEVEL}, got {text!r}")
    return levels


def run(args: argparse.Namespace) -> int:
    levels = _levels(args.sheet_levels)
    if args.checkpoint and args.form != "learned":
        raise InputError("--checkpoint applies to --form learned only")
    content = load_image(args.content, args.size)
    style = load_image(args.style, args.size)
    plan = OutputPlan.folder(args.output, outputs(bool(levels)), [args.content, args.style])
    overrides: dict[str, object] = {
        "texture_level": args.texture_level,
        "threshold": args.threshold,
        "backbone": args.backbone,
        "weights": args.weights,
        "color": args.color,
        "fill": args.fill,
    }
    if args.steps is not None:
        overrides["steps"] = args.steps
    form = "training-free" if args.form == "free" else args.form
    params = replace(COATParams(), form=form, checkpoint=args.checkpoint, **overrides)
    dev = args.device
    wanted = sorted({params.texture_level, *levels})
    results = on_cpu(coat_levels(content.to(dev), style.to(dev), params, wanted, progress=args.progress))
    with plan:
        write_outputs(
            plan,
            content,
            style,
            results,
            params,
            levels,
            {"form": form, "inputs": [str(args.content), str(args.style)]},
        )
    return 0


def demo(outdir: Path, progress: Progress) -> list[Path]:
    """The bundled cat photo with the appearance of its painted copy, at 160 px, over n = 0..3."""
    levels = [0, 1, 2, 3]
    plan = OutputPlan.folder(outdir, outputs(True))
    content = load_image(example_path("cat.jpg"), 160)
    style = load_image(example_path("cat_painting.jpg"), 160)
    params = COATParams(steps=20)
    results = coat_levels(content, style, params, sorted({params.texture_level, *levels}), progress=progress)
    with plan:
        return write_outputs(plan, content, style, results, params, levels, {"form": params.form, "demo": True})
