"""``analogist buddies``, ``align``, ``hybrid`` and ``morph``: Neural Best-Buddies and its applications."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from ..apps.align import select_pairs
from ..apps.hybrid import HybridParams, hybrid
from ..apps.morph import morph
from ..apps.pair_search import DEFORM_BACKBONE, deform_drivers, none_found, refuse_flat, too_few_drivers
from ..data import example_path
from ..features import BACKBONES
from ..io import load_image
from ..matching.mls import KINDS
from ..methods.buddies import COMMON_APPEARANCES, BuddiesParams, BuddiesResult, neural_best_buddies
from ..outputs import OutputPlan
from ..progress import Progress
from ..tasks.buddies import (
    ALIGN_OUTPUTS,
    BUDDIES_OUTPUTS,
    HYBRID_OUTPUTS,
    MORPH_SET,
    morph_outputs,
    points_csv,
    write_alignment,
    write_buddies,
    write_morph,
)
from .common import add_backbone, add_device, add_size, float_in, int_in, on_cpu

DEMO_SIZE = 192
DEMO_FRAMES = 9
_HINT = "a larger --search-size or a lower --gamma"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "buddies",
        help="Neural Best-Buddies: sparse cross-domain correspondences",
        description="Neural Best-Buddies (Aberman et al. 2018): mutual nearest neighbours of deep "
        "features, coarse to fine. Writes points.csv / points.json (the k spread pairs), "
        "all_points.csv (every pair with its rank) and buddies.png.",
    )
    _inputs(p)
    p.add_argument("--k", type=int_in(1, 1000), default=10, help="number of spread pairs to report (default 10)")
    p.add_argument("--no-circles", action="store_true", help="draw the points without receptive-field circles")
    p.set_defaults(func=run_buddies)

    a = sub.add_parser(
        "align",
        help="warp two images onto the midpoints of their best buddies (MLS)",
        description="Moving-least-squares alignment of both images to the midpoints of the pairs "
        "(section 5.1); also the dense A-to-B flow of the pairs (flow.flo, flow.png).",
    )
    _inputs(a, backbone=DEFORM_BACKBONE)
    _deform(a, k=15)
    a.set_defaults(func=run_align)

    h = sub.add_parser(
        "hybrid",
        help="semantic hybrid of two aligned images (section 5.2)",
        description="Aligns the images on their best buddies, then picks per region the image "
        "with the stronger activation, refined level by level by feature inversion.",
    )
    _inputs(h, size=224)
    _deform(h, k=15)
    h.add_argument(
        "--iters",
        type=int_in(0, 200),
        default=HybridParams.iters,
        help=f"L-BFGS iterations per feature inversion (default {HybridParams.iters})",
    )
    h.set_defaults(func=run_hybrid)

    m = sub.add_parser("morph", help="automatic morph sequence driven by best buddies (GIF, MP4, frames)")
    _inputs(m, backbone=DEFORM_BACKBONE)
    _deform(m, k=15)
    m.add_argument("--frames", type=int_in(2, 500), default=25, help="number of frames (default 25)")
    m.add_argument("--fps", type=float_in(0.5, 60), default=12.0, help="frame rate (default 12)")
    m.add_argument("--no-mp4", action="store_true", help="write the GIF and frames only")
    m.set_defaults(func=run_morph)


def _inputs(p: argparse.ArgumentParser, size: int = 448, backbone: str = BuddiesParams.backbone) -> None:
    p.add_argument("image_a", metavar="A", help="first image")
    p.add_argument("image_b", metavar="B", help="second image (any size and aspect ratio)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    add_size(p, size)
    p.add_argument(
        "--search-size",
        type=int_in(32, 1024),
        default=BuddiesParams.size,
        help=f"longer side the best-buddies search runs at (default {BuddiesParams.size}, as the paper)",
    )
    # the ViTs have one resolution: no pyramid of halving layers for the coarse-to-fine search
    add_backbone(p, backbone, [n for n in BACKBONES if not n.startswith("dinov2")])
    add_device(p)
    p.add_argument(
        "--gamma",
        type=float_in(0.0, 0.99),
        default=BuddiesParams.gamma,
        help=f"activation threshold of Eq. 8 (default {BuddiesParams.gamma})",
    )
    p.add_argument(
        "--common-appearance",
        choices=COMMON_APPEARANCES,
        default=BuddiesParams.common_appearance,
        help="common appearance of the compared features: the paper's Eq. 4-6, the authors' code's "
        f"warp and feature inversion, or none (default {BuddiesParams.common_appearance})",
    )


def _deform(p: argparse.ArgumentParser, k: int) -> None:
    p.add_argument(
        "--k",
        type=int_in(3, 1000),
        default=k,
        help=f"consistent, spread pairs that drive the deformation (default {k})",
    )
    p.add_argument("--kind", choices=KINDS, default="affine", help="moving-least-squares variant (default affine)")


def _params(args: argparse.Namespace) -> BuddiesParams:
    return BuddiesParams(
        k=args.k,
        backbone=args.backbone,
        weights=args.weights,
        size=args.search_size,
        gamma=args.gamma,
        common_appearance=args.common_appearance,
    )


def _load(
    args: argparse.Namespace, names: Sequence[str], replaces: Sequence[str] = ()
) -> tuple[OutputPlan, torch.Tensor, torch.Tensor]:
    a, b = load_image(args.image_a, args.size), load_image(args.image_b, args.size)
    plan = OutputPlan.folder(args.output, names, [args.image_a, args.image_b], replaces=replaces)
    return plan, a, b  # only for good inputs


def _search(
    a: torch.Tensor, b: torch.Tensor, params: BuddiesParams, progress: Progress, device: torch.device | str = "cpu"
) -> BuddiesResult:
    refuse_flat(a, b)
    # the search runs on the chosen device; the warps and writers that follow work on the CPU copy
    result = on_cpu(neural_best_buddies(a.to(device), b.to(device), params, progress=progress))
    none_found(result.points.shape[0], _HINT)
    return result


def _scaled_drivers(a: torch.Tensor, b: torch.Tensor, args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """Driving pairs ``(M, 4)`` and ranks of align and morph: the path the web app's tasks share
    (:func:`analogist.apps.pair_search.deform_drivers`: three searches, the best-agreeing kept)."""
    d = deform_drivers(a, b, _params(args), args.k, device=args.device, progress=args.progress, hint=_HINT)
    return d.points, d.ranks


def _drivers(result: BuddiesResult, k: int) -> torch.Tensor:
    """Indices of the consistent, spread pairs that drive a deformation."""
    return select_pairs(result.points, result.ranks, k)


def _info(args: argparse.Namespace, params: BuddiesParams) -> dict:
    return {
        "image_a": str(args.image_a),
        "image_b": str(args.image_b),
        "backbone": params.backbone,
        "search_size": params.size,
        "gamma": params.gamma,
        "k": params.k,
    }


# ---------------------------------------------------------------------------------------- commands


def run_buddies(args: argparse.Namespace) -> int:
    plan, a, b = _load(args, BUDDIES_OUTPUTS)
    params = _params(args)
    result = _search(a, b, params, args.progress, args.device)
    with plan:
        write_buddies(plan, a, b, result, _info(args, params), circles=not args.no_circles)
    return 0


def run_align(args: argparse.Namespace) -> int:
    plan, a, b = _load(args, ALIGN_OUTPUTS)
    pts, ranks = _scaled_drivers(a, b, args)
    with plan:
        write_alignment(plan, a, b, pts, args.kind)
        plan.save_text("points.csv", points_csv(pts, ranks))
    return 0


def run_hybrid(args: argparse.Namespace) -> int:
    plan, a, b = _load(args, HYBRID_OUTPUTS)
    params = _params(args)
    result = _search(a, b, params, args.progress, args.device)
    idx = _drivers(result, args.k)
    too_few_drivers(idx.numel(), _HINT)  # as the web's hybrid: with fewer, the two would lie unaligned
    hp = HybridParams(backbone=args.backbone, weights=args.weights, iters=args.iters, kind=args.kind)
    hy = hybrid(a, b, result.points[idx], hp, progress=args.progress)
    with plan:
        plan.save_image("hybrid.png", hy.image)
        plan.save_image("mask.png", hy.mask.expand(-1, 3, -1, -1))
        aligned_a, aligned_b = hy.alignment.framed()
        plan.save_image("aligned_a.png", aligned_a)
        plan.save_image("aligned_b.png", aligned_b)
    return 0


def run_morph(args: argparse.Namespace) -> int:
    # an earlier run's longer frame series or its MP4 would not belong to this run's set
    plan, a, b = _load(args, morph_outputs(args.frames, not args.no_mp4), MORPH_SET)
    pts = _scaled_drivers(a, b, args)[0]
    seq = morph(a, b, pts, args.frames, args.kind, progress=args.progress)
    with plan:
        write_morph(plan, seq, args.fps, mp4=not args.no_mp4)
    return 0


def demo(outdir: Path, progress: Progress) -> list[Path]:
    """Best buddies between the bundled cat and its (zoomed, re-framed) painting, and a short morph
    (``analogist morph``'s path)."""
    plan = OutputPlan.folder(outdir, [*BUDDIES_OUTPUTS, *morph_outputs(DEMO_FRAMES, folder="morph/")])
    a = load_image(example_path("cat.jpg"), DEMO_SIZE)
    b = load_image(example_path("cat_painting.jpg"), DEMO_SIZE)
    params = replace(BuddiesParams(), size=DEMO_SIZE)
    result = neural_best_buddies(a, b, params, progress=progress)
    info = {
        "image_a": "cat.jpg",
        "image_b": "cat_painting.jpg",
        "backbone": params.backbone,
        "search_size": params.size,
        "gamma": params.gamma,
        "k": params.k,
    }
    # the morph as `analogist morph --size 192` draws it: its own scaled searches and backbone
    drivers = deform_drivers(a, b, BuddiesParams(k=15, backbone=DEFORM_BACKBONE), 15, progress=progress)
    seq = morph(a, b, drivers.points, DEMO_FRAMES, progress=progress)
    with plan:
        written = write_buddies(plan, a, b, result, info)
        written += write_morph(plan, seq, 8.0, folder="morph/")
    return written
