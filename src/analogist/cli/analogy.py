"""``analogist analogy`` and ``analogist timelapse``: Deep Image Analogy and its colour time-lapse."""

from __future__ import annotations

import argparse
import resource
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..apps.timelapse import timelapse
from ..data import example_path
from ..features import BACKBONES, backbone_status
from ..io import load_image, to_uint8
from ..matching.flow import flow_to_color
from ..methods.analogy import MODE_OFFSETS, AnalogyParams, AnalogyResult, deep_image_analogy
from ..outputs import OutputPlan
from ..progress import Progress, silent
from .common import add_backbone, add_device, add_size, float_in, int_in, on_cpu

DEMO_SIZE = 160
#: Deep Image Analogy matches and deconvolves VGG's relu1_1..relu5_1: the VGG backbones only.
DIA_BACKBONES = tuple(name for name in BACKBONES if name.startswith("vgg"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analogy",
        help="Deep Image Analogy: A' and B plus dense correspondences between A and B'",
        description="Deep Image Analogy (Liao et al. 2017): A' = structure of A, appearance of B'; "
        "B = structure of B', appearance of A; both dense flows.",
    )
    p.add_argument("image_a", metavar="A", help="content image A")
    p.add_argument("image_b", metavar="B", help="style/appearance image B'")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    _common(p)
    p.add_argument(
        "--mode",
        default="photo2style",
        choices=list(MODE_OFFSETS),
        help="application preset (photo2photo adds the WLS colour refinement); default photo2style",
    )
    p.set_defaults(func=run)

    t = sub.add_parser("timelapse", help="recolour one photo after each reference (photo2photo analogy) + GIF")
    t.add_argument("source", help="photo to recolour")
    t.add_argument("references", nargs="+", help="reference photos, in frame order")
    t.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    _common(t)
    t.add_argument(
        "--transition",
        type=int_in(0, 30),
        default=4,
        help="cross-faded frames between consecutive results in the GIF (default 4)",
    )
    t.add_argument("--fps", type=float_in(0.5, 60), default=8.0, help="GIF frame rate (default 8)")
    t.set_defaults(func=run_timelapse)


def _common(p: argparse.ArgumentParser) -> None:
    add_size(p, 448)
    add_backbone(p, "vgg16-hed", DIA_BACKBONES)
    add_device(p)
    p.add_argument(
        "--weight-offset",
        type=float_in(-0.5, 0.5),
        default=None,
        metavar="D",
        help="added to the blend weights alpha (more A structure if > 0); default: the mode's preset",
    )
    p.add_argument(
        "--match-backbone",
        default="efficientnet-lite0",
        choices=["efficientnet-lite0", "dinov2-s", "dinov2-b", "dinov2-l", "none"],
        help="semantic network seeding the coarsest match (default efficientnet-lite0: the offline "
        "HED-VGG alone confuses flat regions, e.g. hair and background; dinov2-*: where their "
        "weights are present); none = VGG only, as in the paper",
    )
    p.add_argument(
        "--iters",
        type=int_in(0, 200),
        default=AnalogyParams.lbfgs_iters,
        help=f"L-BFGS iterations per deconvolution (default {AnalogyParams.lbfgs_iters})",
    )


def _params(args: argparse.Namespace, mode: str) -> AnalogyParams:
    match = None if args.match_backbone == "none" else args.match_backbone
    return AnalogyParams(
        backbone=args.backbone,
        weights=args.weights,
        weight_offset=args.weight_offset,
        match_backbone=match,
        lbfgs_iters=args.iters,
        size=None,
        mode=mode,
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def overview(a: torch.Tensor, bp: torch.Tensor, result: AnalogyResult) -> np.ndarray:
    """Side-by-side picture ``(H, W, 3)`` uint8: top A, A', flow A->B'; bottom B', B, flow B'->A."""
    rows = [
        [to_uint8(a), to_uint8(result.a_prime), flow_to_color(result.flow_ab)],
        [to_uint8(bp), to_uint8(result.b), flow_to_color(result.flow_ba)],
    ]
    h = max(im.shape[0] for row in rows for im in row)
    w = max(im.shape[1] for row in rows for im in row)
    canvas = np.full((2 * h + 4, 3 * w + 8, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            y, x = r * (h + 4), c * (w + 4)
            canvas[y : y + im.shape[0], x : x + im.shape[1]] = im
    return canvas


#: Files ``analogy`` writes into its output folder.
OUTPUTS = (
    "a_prime.png",
    "b.png",
    "flow_ab.flo",
    "flow_ba.flo",
    "flow_ab.png",
    "flow_ba.png",
    "overview.png",
    "report.json",
)


def write_outputs(
    plan: OutputPlan,
    a: torch.Tensor,
    bp: torch.Tensor,
    result: AnalogyResult,
    params: AnalogyParams,
    extra: dict | None = None,
) -> list[Path]:
    """Write A', B, both flows (.flo and colour wheel), the overview and report.json (:data:`OUTPUTS`)."""
    paths = [
        plan.save_image("a_prime.png", result.a_prime),
        plan.save_image("b.png", result.b),
        plan.write_flo("flow_ab.flo", result.flow_ab),
        plan.write_flo("flow_ba.flo", result.flow_ba),
        plan.save_image("flow_ab.png", flow_to_color(result.flow_ab)),
        plan.save_image("flow_ba.png", flow_to_color(result.flow_ba)),
        plan.save_image("overview.png", overview(a, bp, result)),
    ]
    report = {
        "method": "deep image analogy",
        "params": asdict(params),
        "backbone": params.backbone,
        "backbone_weights": backbone_status(params.backbone)[1],
        "size_a": list(a.shape[-2:]),
        "size_b": list(bp.shape[-2:]),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "peak_memory_mb": round(_peak_mb(), 1),
        "threads": torch.get_num_threads(),
        **(extra or {}),
    }
    paths.append(plan.write_json("report.json", report))
    return paths


def run(args: argparse.Namespace) -> int:
    a = load_image(args.image_a, args.size)
    bp = load_image(args.image_b, args.size)
    plan = OutputPlan.folder(args.output, OUTPUTS, [args.image_a, args.image_b])  # only once the inputs are good
    params = _params(args, args.mode)
    result = on_cpu(deep_image_analogy(a.to(args.device), bp.to(args.device), params, progress=args.progress))
    with plan:
        write_outputs(plan, a, bp, result, params, {"inputs": [str(args.image_a), str(args.image_b)]})
    return 0


def run_timelapse(args: argparse.Namespace) -> int:
    src = load_image(args.source, args.size)
    refs = [load_image(r, args.size) for r in args.references]
    names = [f"frame_{i:03d}.png" for i in range(len(refs))] + ["timelapse.gif", "report.json"]
    plan = OutputPlan.folder(args.output, names, [args.source, *args.references], replaces=["frame_*.png"])
    params = _params(args, "photo2photo")
    dev = args.device
    frames = timelapse(
        src.to(dev), [r.to(dev) for r in refs], params, transition=args.transition, progress=args.progress
    )
    frames = on_cpu(frames)
    step = args.transition + 1
    with plan:
        for i, frame in enumerate(frames[::step]):
            plan.save_image(f"frame_{i:03d}.png", frame)
        plan.save_animation("timelapse.gif", frames, fps=args.fps)
        plan.write_json(
            "report.json",
            {
                "method": "deep image analogy timelapse",
                "params": asdict(params),
                "source": str(args.source),
                "references": [str(r) for r in args.references],
                "frames": len(frames),
                "peak_memory_mb": round(_peak_mb(), 1),
            },
        )
    return 0


def demo(outdir: Path, progress: Progress = silent) -> list[Path]:
    """Bundled cat photo -> painted cat (photo2style) at a small size, written into ``outdir``
    (``analogist demo`` passes ``<demo folder>/analogy``)."""
    plan = OutputPlan.folder(outdir, OUTPUTS)
    a = load_image(example_path("cat.jpg"), DEMO_SIZE)
    bp = load_image(example_path("cat_painting.jpg"), DEMO_SIZE)
    params = AnalogyParams(size=None, mode="photo2style")
    result = deep_image_analogy(a, bp, params, progress=progress)
    with plan:
        return write_outputs(plan, a, bp, result, params, {"inputs": ["cat.jpg", "cat_painting.jpg"]})
