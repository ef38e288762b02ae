"""``analogist eval``: score a matcher on a correspondence benchmark in its published format."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from ..batch.engines import ENGINES
from ..errors import InputError
from ..eval.datasets import pairs_csv, spair
from ..eval.matchers import MATCHERS, get_matcher
from ..eval.metrics import PCK_NORM_TEXT
from ..eval.runner import PCK_NORMS, PUBLISHED, EvalConfig, Report, evaluate
from ..eval.tss import tss_pairs
from ..features import check_backbone
from ..io import MAX_SIZE, MIN_SIZE
from ..methods.samnet import SAMNetParams
from ..outputs import OutputPlan
from .common import add_backbone, add_device, int_in

log = logging.getLogger("analogist")

DATASETS = ("tss", "pairs-csv", "spair")
#: Longer image side when --size is not given: 224 px, except for nn on efficientnet-lite0, whose
#: stride-32 layer needs 448 px for a useful grid (measured on the TSS sample).
DEFAULT_SIZE = 224
DEFAULT_SIZES = {("nn", "efficientnet-lite0"): 448, ("samnet", "efficientnet-lite0"): 448}
#: Backbone per method when --backbone is not given (otherwise vgg16-hed): SAM-Net's own default.
METHOD_BACKBONES = {"samnet": "efficientnet-lite0"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score a matcher on TSS, PF-PASCAL/PF-WILLOW or SPair-71k",
        description="Score a dense matcher on a correspondence benchmark and print the "
        "papers' published figures beside ours.",
    )
    p.add_argument(
        "--dataset",
        nargs=2,
        metavar=("KIND", "PATH"),
        required=True,
        help=f"benchmark kind ({', '.join(DATASETS)}) and its folder (tss, spair) or csv file (pairs-csv)",
    )
    p.add_argument(
        "--method",
        required=True,
        choices=list(MATCHERS),
        metavar="METHOD",
        help="; ".join(f"{s.name}: {s.description}" for s in MATCHERS.values()),
    )
    add_backbone(p, "vgg16-hed; samnet: efficientnet-lite0")
    add_device(p)
    # a method with a backbone of its own (samnet) keeps it unless --backbone is given
    p.set_defaults(backbone=None)
    p.add_argument(
        "--size",
        type=int_in(MIN_SIZE, MAX_SIZE),
        default=None,
        help="longer image side for matching (default: 448 for nn and samnet on efficientnet-lite0, 224 otherwise)",
    )
    p.add_argument("--layer", default=None, help="feature layer of the nn method (default: relu4_3 / stage6)")
    p.add_argument(
        "--iters",
        type=int_in(1, 100),
        default=None,
        help=f"recurrent iterations of the samnet method (default {SAMNetParams.iters})",
    )
    p.add_argument("--alpha", default="0.05,0.1,0.15", help="comma-separated PCK thresholds (default 0.05,0.1,0.15)")
    p.add_argument(
        "--pck-norm",
        choices=PCK_NORMS,
        default=None,
        help="PCK threshold alpha x the longer side of the target's bounding box (bbox, the default: "
        "SPair's box, or for pairs-csv the box of the target keypoints) or of the target image (image)",
    )
    p.add_argument("--split", default="test", help="SPair-71k annotation split folder (default test)")
    p.add_argument(
        "--root", default=None, help="folder the pairs-csv image paths are relative to (default: the csv's folder)"
    )
    p.add_argument(
        "--no-flip",
        action="store_true",
        help="TSS: ignore flip_gt.txt (by default flipped pairs are matched against the mirrored image2)",
    )
    p.add_argument("--limit", type=int_in(1, None), default=None, help="evaluate only the first N pairs")
    p.add_argument(
        "--workers",
        type=int_in(1, 64),
        default=1,
        help="pairs evaluated in parallel: local processes, or Ray tasks with --engine ray (default 1)",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this machine; ray: a Ray cluster, the path analogist batch uses (needs the 'batch' extra)",
    )
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    p.add_argument("--json", default=None, metavar="OUT.json", help="also write the results as JSON")
    p.set_defaults(func=run)


def parse_alphas(text: str) -> tuple[float, ...]:
    try:
        alphas = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"--alpha must be comma-separated numbers, got {text!r}") from None
    if not alphas or any(not 0 < a <= 1 for a in alphas):
        raise InputError(f"--alpha values must be in (0, 1], got {text!r}")
    return alphas


def _fmt(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def format_table(report: Report) -> str:
    """The text table ``analogist eval`` prints (also what the README shows)."""
    c = report.config
    n_done = len(report.pairs) - len(report.skipped)
    title = {
        "tss": "TSS flow accuracy (error <= 5 px at 100 px, both directions)",
        "pairs-csv": f"PCK ({c.pck_norm} normalisation: {PCK_NORM_TEXT[c.pck_norm]})",
        "spair": f"SPair-71k PCK ({c.pck_norm} normalisation: {PCK_NORM_TEXT[c.pck_norm]})",
    }
    lines = [
        f"{title[report.dataset]}: method {c.method}, backbone {c.backbone}, size {c.size or 'original'} px, "
        f"{n_done} pairs ({len(report.skipped)} skipped), {report.seconds_per_pair:.2f} s/pair (median), "
        f"peak memory {report.peak_rss_mib:.0f} MiB, {report.workers} worker(s)"
    ]
    published = PUBLISHED.get(report.dataset, {})
    papers_subsets = [g for g in report.groups if g != "mean" and any(g in v for v in published.values())]
    if not papers_subsets:
        published = {}  # none of the papers' subsets was evaluated: nothing to compare with
    # the papers' mean is over all of their subsets: compare it only when we evaluated them all
    full = all(g in report.groups for v in published.values() for g in v if g != "mean")
    shown = [m for m in report.metrics if report.dataset != "tss" or m == "accuracy"]
    head = ["subset" if report.dataset == "tss" else "class", "pairs"]
    head += ["ours" if m == "accuracy" else m for m in shown] + [f"{k} (paper)" for k in published]
    rows = [head]
    for g, vals in report.groups.items():
        row = [g, str(report.counts.get(g, 0))] + [_fmt(vals[m]) for m in shown]
        row += [_fmt(published[k].get(g) if g != "mean" or full else None) for k in published]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append(
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
        )
    if published:
        lines.append("(paper figures: the full 400 TSS pairs; ours: the pairs above)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    kind, path = args.dataset
    if kind not in DATASETS:
        raise InputError(f"unknown dataset kind {kind!r}: choose one of {', '.join(DATASETS)}")
    spec = get_matcher(args.method)
    backbone = check_backbone(args.backbone or METHOD_BACKBONES.get(args.method, "vgg16-hed"))
    options: dict[str, object] = {}
    for name, value in (("layer", args.layer), ("weights", args.weights), ("iters", args.iters)):
        if value is not None:
            if name not in spec.options:
                raise InputError(f"--{name} does not apply to the {args.method} method")
            options[name] = value
    alphas = parse_alphas(args.alpha)
    if args.root is not None and kind != "pairs-csv":
        raise InputError("--root applies to pairs-csv only")
    if kind == "tss":
        if args.pck_norm is not None:
            raise InputError("--pck-norm applies to keypoint datasets (pairs-csv, spair), not tss")
        pairs = tss_pairs(path)
    elif kind == "pairs-csv":
        pairs = pairs_csv(path, args.root)
    else:
        pairs = spair(path, args.split)
    if args.limit:
        pairs = pairs[: args.limit]
    if not pairs:
        raise InputError(f"{path} holds no pairs")
    # the pairs' own files count as inputs too: --json may not land on any of them
    plan = OutputPlan.file(args.json, [path, *(f for p in pairs for f in p.files())]) if args.json else None
    config = EvalConfig(
        method=args.method,
        backbone=backbone,
        size=args.size or DEFAULT_SIZES.get((args.method, backbone), DEFAULT_SIZE),
        options=tuple(sorted(options.items())),
        alphas=alphas,
        pck_norm=args.pck_norm or "bbox",
        use_flip=not args.no_flip,
        device=str(args.device),
    )
    if args.address is not None and args.engine != "ray":
        raise InputError("--address applies to --engine ray only")
    report = evaluate(
        kind, pairs, config, workers=args.workers, engine=args.engine, address=args.address, progress=args.progress
    )
    if len(report.skipped) == len(report.pairs):
        first = report.skipped[0]
        raise InputError(
            f"no pair of {path} could be evaluated (all {len(report.pairs)} skipped; {first.name}: {first.skipped})"
        )
    for p in report.skipped:
        log.warning("skipped %s: %s", p.name, p.skipped)
    print(format_table(report))
    if plan is not None:
        with plan:
            plan.write_json(None, report.to_dict())
    return 0


# ----------------------------------------------------------------------------------------------- demo

#: The synthetic demo pair: image2 is image1 zoomed by ZOOM about its centre and shifted by SHIFT px.
DEMO_ZOOM = 1.15
DEMO_SHIFT = (6.0, -4.0)


#: Files of the synthetic TSS pair folder, as TSS names them.
TSS_PAIR_FILES = ("image1.png", "image2.png", "flow1.flo", "flow2.flo", "mask1.png", "mask2.png", "flip_gt.txt")
DEMO_BACKBONES = (("vgg16-hed", 224), ("efficientnet-lite0", 256))
DEMO_PAIR = "tss-synthetic/synthetic/cat_zoom/"


def write_synthetic_tss(plan: OutputPlan, folder: str = DEMO_PAIR, size: int = 256) -> list[Path]:
    """A one-pair TSS folder ``folder`` of ``plan`` from the bundled cat with a known affine flow."""
    import cv2
    import numpy as np

    from ..data import example_path
    from ..io import load_image, to_uint8

    img1 = to_uint8(load_image(example_path("cat.jpg"), size))
    h, w = img1.shape[:2]
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    t = np.array(DEMO_SHIFT)
    m = np.array([[DEMO_ZOOM, 0, (1 - DEMO_ZOOM) * c[0] + t[0]], [0, DEMO_ZOOM, (1 - DEMO_ZOOM) * c[1] + t[1]]])
    img2 = cv2.warpAffine(img1, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x2, y2 = DEMO_ZOOM * (xs - c[0]) + c[0] + t[0], DEMO_ZOOM * (ys - c[1]) + c[1] + t[1]
    x1, y1 = (xs - c[0] - t[0]) / DEMO_ZOOM + c[0], (ys - c[1] - t[1]) / DEMO_ZOOM + c[1]
    flow1 = np.stack([x2 - xs, y2 - ys])
    flow2 = np.stack([x1 - xs, y1 - ys])
    # no ground truth where the corresponding point leaves the other image (as TSS's 1e10)
    flow1[:, (x2 < 0) | (x2 > w - 1) | (y2 < 0) | (y2 > h - 1)] = 1e10
    flow2[:, (x1 < 0) | (x1 > w - 1) | (y1 < 0) | (y1 > h - 1)] = 1e10
    mask = np.full((h, w, 3), 255, np.uint8)
    return [
        plan.save_image(folder + "image1.png", img1),
        plan.save_image(folder + "image2.png", img2),
        plan.write_flo(folder + "flow1.flo", flow1),
        plan.write_flo(folder + "flow2.flo", flow2),
        plan.save_image(folder + "mask1.png", mask),
        plan.save_image(folder + "mask2.png", mask),
        plan.save_text(folder + "flip_gt.txt", "0\n"),
    ]


def demo(outdir: Path, progress) -> list[Path]:
    """``analogist eval`` on a synthetic TSS-format pair (the bundled cat, zoomed and shifted):
    the nn baseline on both offline backbones, its flow pictures and the result table."""
    import torch

    from ..eval.metrics import flow_to_size
    from ..eval.tss import load_tss_pair
    from ..io import resize_longer
    from ..matching.flow import flow_to_color

    names = [DEMO_PAIR + f for f in TSS_PAIR_FILES] + ["flow_ground_truth.png", "results.txt"]
    names += [f"{kind}_nn_{b}.{ext}" for b, _ in DEMO_BACKBONES for kind, ext in (("flow", "png"), ("results", "json"))]
    plan = OutputPlan.folder(outdir, names)
    with plan:
        written = write_synthetic_tss(plan)
        pairs = tss_pairs(plan.work_root / "tss-synthetic")  # read back before the move into place
        data = load_tss_pair(pairs[0])
        gt = torch.from_numpy(data.flow1)
        top = float(gt[:, (gt.abs() < 1e9).all(0)].norm(dim=0).max())
        written.append(plan.save_image("flow_ground_truth.png", flow_to_color(gt, top)))
        tables = []
        for backbone, size in progress(DEMO_BACKBONES, desc="eval demo"):
            config = EvalConfig("nn", backbone, size)
            report = evaluate("tss", pairs, config)
            tables.append(format_table(report))
            a, b = data.image1, data.image2
            small_a, small_b = resize_longer(a, size), resize_longer(b, size)
            flow = get_matcher("nn").fn(small_a, small_b, backbone=backbone)
            flow = flow_to_size(
                flow, tuple(a.shape[-2:]), (b.shape[-1] / small_b.shape[-1], b.shape[-2] / small_b.shape[-2])
            )
            written.append(plan.save_image(f"flow_nn_{backbone}.png", flow_to_color(flow, top)))
            written.append(plan.write_json(f"results_nn_{backbone}.json", report.to_dict()))
        written.append(plan.save_text("results.txt", "\n\n".join(tables) + "\n"))
    return written
