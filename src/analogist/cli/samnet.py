"""``analogist samnet``: SAM-Net's joint matching and attribute transfer, with mask transfer."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from ..data import example_path
from ..io import load_image, read_image_array
from ..methods.samnet import FORMS, INITS, RENDERS, TRANSFERS, SAMNetParams, default_layer, sam_net
from ..outputs import OutputPlan
from ..progress import Progress, silent
from ..tasks.samnet import OUTPUTS, write_outputs
from .common import add_backbone, add_device, add_size, int_in, on_cpu

DEMO_SIZE = 224


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "samnet",
        help="SAM-Net: dense matching through local affine fields + attribute transfer",
        description="Semantic Attribute Matching Networks (Kim et al. 2019): matches SOURCE to "
        "TARGET through a dense field of local affine transforms while transferring "
        "TARGET's attributes onto SOURCE, each helping the other.",
    )
    p.add_argument("source", help="source image (keeps its structure)")
    p.add_argument("target", help="target image (gives its attributes)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument(
        "--iters",
        type=int_in(1, 100),
        default=SAMNetParams.iters,
        help=f"recurrent iterations (default {SAMNetParams.iters})",
    )
    p.add_argument(
        "--form",
        choices=FORMS,
        default="auto",
        help="training-free (least squares + feature inversion), learned (trained networks) or "
        "auto (default: learned where its checkpoint fits the backbone and layer, as the bundled one "
        "fits the default efficientnet-lite0; training-free otherwise)",
    )
    p.add_argument(
        "--transfer",
        "--decoder",
        choices=TRANSFERS,
        default=SAMNetParams.transfer,
        help="how the blended features become the stylised image: blend (image-space blend), learned (the "
        "trained decoder of the checkpoint) or auto (learned in the learned form where the checkpoint has "
        "one, blend otherwise; default)",
    )
    p.add_argument(
        "--render",
        choices=RENDERS,
        default=SAMNetParams.render,
        help="how stylised.png is drawn: nnst (NNST's synthesis, the target's features near where the field "
        "points; default), nnst-d (the same through NNST's trained decoder) or loop (the loop's own image)",
    )
    p.add_argument(
        "--init",
        choices=INITS,
        default=SAMNetParams.init,
        help=f"where the affine field starts: identity (the paper) or buddies (fitted to Neural Best-Buddies' "
        f"matches; default {SAMNetParams.init})",
    )
    add_size(p, 448)
    add_backbone(p, SAMNetParams.backbone)
    add_device(p)
    p.add_argument(
        "--layer", default=None, help="feature layer matched (default: stage5 for efficientnet-lite0, relu4_1 for VGG)"
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        metavar="PATH",
        help="weights of the learned form (otherwise $ANALOGIST_SAMNET_CHECKPOINT, "
        "$ANALOGIST_WEIGHTS_DIR/samnet.pt, then the bundled file)",
    )
    p.add_argument(
        "--mask",
        default=None,
        metavar="TARGET_MASK",
        help="label image of TARGET to warp onto SOURCE (labels are kept, never blended) -> mask.png",
    )
    p.set_defaults(func=run)


def read_labels(path: str, size: tuple[int, int]) -> Image.Image:
    """A label image resized to ``size`` ``(H, W)`` with nearest-neighbour sampling, its mode and palette kept."""
    read_image_array(path)  # the usual one-line errors for missing, folder, corrupt files
    im = Image.open(path)
    im.load()
    if im.mode not in ("1", "L", "P", "I", "I;16", "RGB", "RGBA"):
        im = im.convert("RGB")
    return im.resize((size[1], size[0]), Image.NEAREST)


def run(args: argparse.Namespace) -> int:
    source = load_image(args.source, args.size)
    target = load_image(args.target, args.size)
    mask = read_labels(args.mask, tuple(target.shape[-2:])) if args.mask else None
    names = OUTPUTS + (("mask.png",) if mask is not None else ())
    plan = OutputPlan.folder(args.output, names, [args.source, args.target] + ([args.mask] if args.mask else []))
    params = SAMNetParams(
        iters=args.iters,
        form=args.form,
        transfer=args.transfer,
        render=args.render,
        init=args.init,
        backbone=args.backbone,
        layer=args.layer or default_layer(args.backbone),
        weights=args.weights,
        size=None,
        keep_iterations=True,
        checkpoint=args.checkpoint,
    )
    result = on_cpu(sam_net(source.to(args.device), target.to(args.device), params, progress=args.progress))
    inputs = [str(args.source), str(args.target)] + ([str(args.mask)] if args.mask else [])
    with plan:
        write_outputs(plan, source, target, result, params, {"inputs": inputs}, mask)
    return 0


def demo(outdir: Path, progress: Progress = silent) -> list[Path]:
    """Bundled cat photo matched to the painted cat at a small size, written into ``outdir``."""
    plan = OutputPlan.folder(outdir, OUTPUTS)
    source = load_image(example_path("cat.jpg"), DEMO_SIZE)
    target = load_image(example_path("cat_painting.jpg"), DEMO_SIZE)
    params = SAMNetParams(size=None, keep_iterations=True)
    result = sam_net(source, target, params, progress=progress)
    with plan:
        return write_outputs(plan, source, target, result, params, {"inputs": ["cat.jpg", "cat_painting.jpg"]})


__all__ = ["demo", "read_labels", "register", "run"]
