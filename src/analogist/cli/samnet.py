"""``analogist samnet``: SAM-Net's joint matching and attribute transfer, with mask transfer."""

from __future__ import annotations

import argparse
import resource
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..data import example_path
from ..io import load_image, read_image_array, to_uint8
from ..matching.affine_field import field_targets
from ..matching.flow import flow_to_color
from ..methods.samnet import (
    DECODERS,
    FORMS,
    INITS,
    SAMNetParams,
    SAMNetResult,
    default_layer,
    sam_net,
    transfer_mask,
)
from ..outputs import OutputPlan
from ..progress import Progress, silent
from .common import add_backbone, add_device, add_size, int_in, on_cpu

DEMO_SIZE = 224
#: Files ``samnet`` always writes; ``mask.png`` joins them with ``--mask``.
OUTPUTS = (
    "flow.flo",
    "flow.png",
    "affine.png",
    "stylised.png",
    "warped.png",
    "confidence.png",
    "iterations.png",
    "report.json",
)


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
        "auto (the better one; default)",
    )
    p.add_argument(
        "--decoder",
        choices=DECODERS,
        default=SAMNetParams.decoder,
        help="how the blended features become the stylised image: blend (image-space blend), learned (the "
        "trained decoder of the checkpoint) or auto (learned in the learned form where the checkpoint has "
        "one, blend otherwise; default)",
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


def warp_labels(labels: Image.Image, flow: torch.Tensor) -> Image.Image:
    """The target's label image pulled onto the source through ``flow`` (same mode and palette)."""
    out = Image.fromarray(transfer_mask(np.asarray(labels), flow), mode=None if labels.mode != "1" else "L")
    if labels.mode == "P":
        out = out.convert("L") if out.mode != "L" else out
        out.putpalette(labels.getpalette())
        out = out.convert("P") if out.mode != "P" else out
    return out


def affine_picture(target: torch.Tensor, result: SAMNetResult) -> np.ndarray:
    """The source feature lattice mapped into the target by the affine field, drawn over the target."""
    img = Image.fromarray(to_uint8(target))
    h, w = result.field.shape[-2:]
    ht, wt = target.shape[-2:]
    grid_t = result.grid_t
    pts = field_targets(result.field).cpu().numpy()
    x = (pts[0] + 0.5) * wt / grid_t[1] - 0.5
    y = (pts[1] + 0.5) * ht / grid_t[0] - 0.5
    conf = result.cell_confidence.cpu().numpy()
    draw = ImageDraw.Draw(img)
    for i in range(h):
        for j in range(w):
            col = (255, int(255 * (1 - conf[i, j])), 0)
            if j + 1 < w:
                draw.line([(x[i, j], y[i, j]), (x[i, j + 1], y[i, j + 1])], fill=col, width=1)
            if i + 1 < h:
                draw.line([(x[i, j], y[i, j]), (x[i + 1, j], y[i + 1, j])], fill=col, width=1)
    return np.asarray(img)


def iteration_strip(result: SAMNetResult, target: torch.Tensor) -> np.ndarray:
    """One column per iteration: stylised source (top) and target warped by that iteration's flow."""
    from ..synthesis.warp import backward_warp

    cols = [
        np.concatenate([to_uint8(it.stylised), to_uint8(backward_warp(target, it.flow))], 0) for it in result.iterations
    ]
    gap = np.full((cols[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([c for col in cols for c in (col, gap)][:-1], 1)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_outputs(
    plan: OutputPlan,
    source: torch.Tensor,
    target: torch.Tensor,
    result: SAMNetResult,
    params: SAMNetParams,
    extra: dict | None = None,
    mask: Image.Image | None = None,
) -> list[Path]:
    """Write every file of :data:`OUTPUTS` (and ``mask.png`` given a label image) through ``plan``."""
    paths = [
        plan.write_flo("flow.flo", result.flow),
        plan.save_image("flow.png", flow_to_color(result.flow)),
        plan.save_image("affine.png", affine_picture(target, result)),
        plan.save_image("stylised.png", result.stylised),
        plan.save_image("warped.png", result.warped),
        plan.save_image("confidence.png", result.confidence[..., None].expand(-1, -1, 3).numpy()),
        plan.save_image("iterations.png", iteration_strip(result, target)),
    ]
    if mask is not None:
        out = warp_labels(mask, result.flow)
        path = plan.path("mask.png")
        from ..io import atomic_path

        with atomic_path(path) as tmp:
            out.save(tmp, format="PNG")
        paths.append(path)
    report = {
        "method": "sam-net",
        "form": result.form,
        "params": asdict(params),
        "size_source": list(source.shape[-2:]),
        "size_target": list(target.shape[-2:]),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "peak_memory_mb": round(_peak_mb(), 1),
        "threads": torch.get_num_threads(),
        **(extra or {}),
    }
    paths.append(plan.write_json("report.json", report))
    return paths


def run(args: argparse.Namespace) -> int:
    source = load_image(args.source, args.size)
    target = load_image(args.target, args.size)
    mask = read_labels(args.mask, tuple(target.shape[-2:])) if args.mask else None
    names = OUTPUTS + (("mask.png",) if mask is not None else ())
    plan = OutputPlan.folder(args.output, names, [args.source, args.target] + ([args.mask] if args.mask else []))
    params = SAMNetParams(
        iters=args.iters,
        form=args.form,
        decoder=args.decoder,
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


__all__ = ["OUTPUTS", "demo", "read_labels", "register", "run", "warp_labels"]
