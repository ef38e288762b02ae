"""``analogist features``: save a PCA picture of one feature map."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch.nn.functional as F

from ..data import example_path
from ..features import get_backbone
from ..features.visualize import pca_rgb
from ..io import load_image
from ..outputs import OutputPlan
from ..progress import Progress
from .common import add_backbone, add_device, add_size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="visualise one feature map of an image (PCA to RGB)")
    p.add_argument("image", help="input image")
    p.add_argument(
        "--layer",
        default=None,
        help="layer name, e.g. relu3_1 or stage3 (default: the backbone's deepest default layer)",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="output picture (.png/.jpg)")
    p.add_argument("--upsample", action="store_true", help="resize the picture to the image size")
    add_size(p, 448)
    add_backbone(p, "vgg16-hed")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plan = OutputPlan.file(args.output, [args.image], image=True)
    image = load_image(args.image, args.size)
    net = get_backbone(args.backbone, args.weights, device=args.device)
    layer = net.check_layer(args.layer or net.default_layers[-1])
    rgb = pca_rgb(net.extract(image.to(args.device), [layer])[layer].cpu())
    if args.upsample:
        rgb = F.interpolate(rgb, size=image.shape[-2:], mode="nearest")
    with plan:
        plan.save_image(None, rgb)
    return 0


def demo(outdir: Path, progress: Progress) -> list[Path]:
    """PCA pictures of the vgg16-hed and efficientnet-lite0 pyramids of the bundled cat."""
    layers = [("vgg16-hed", "relu3_1"), ("vgg16-hed", "relu4_1"), ("efficientnet-lite0", "stage4")]
    plan = OutputPlan.folder(outdir, ["cat.png", *(f"{name}_{layer}.png" for name, layer in layers)])
    image = load_image(example_path("cat.jpg"), 256)
    pictures = {
        f"{name}_{layer}.png": pca_rgb(get_backbone(name).extract(image, [layer])[layer])
        for name, layer in progress(layers, desc="features")
    }
    with plan:
        return [plan.save_image("cat.png", image)] + [plan.save_image(n, p) for n, p in pictures.items()]
