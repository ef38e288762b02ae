"""``analogist eval``: score a matcher on a correspondence benchmark in its published format."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from ..errors import InputError
from ..eval.datasets import pairs_csv, spair, tss_pairs
from ..eval.matchers import MATCHERS, get_matcher
from ..eval.runner import PCK_NORMS, PUBLISHED, EvalConfig, Report, evaluate
from ..features import check_backbone
from ..io import MAX_SIZE, MIN_SIZE, check_output
from ..progress import terminal
from .common import add_backbone, int_in, write_json

log = logging.getLogger("analogist")

DATASETS = ("tss", "pairs-csv", "spair")
#: Longer image side per backbone when --size is not given: where the nn baseline scores best.
DEFAULT_SIZES = {"vgg16-hed": 224, "vgg16": 224, "vgg19": 224, "efficientnet-lite0": 448}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a matcher on TSS, PF-PASCAL/PF-WILLOW or SPair-71k",
                       description="Score a dense matcher on a correspondence benchmark and print the "
                                   "papers' published figures beside ours.")
    p.add_argument("--dataset", nargs=2, metavar=("KIND", "PATH"), required=True,
                   help=f"benchmark kind ({', '.join(DATASETS)}) and its folder (tss, spair) or csv file (pairs-csv)")
    p.add_argument("--method", required=True, choices=list(MATCHERS), metavar="METHOD",
                   help="; ".join(f"{s.name}: {s.description}" for s in MATCHERS.values()))
    add_backbone(p, "vgg16-hed")
    p.add_argument("--size", type=int_in(MIN_SIZE, MAX_SIZE), default=None,
                   help="longer image side for matching (default: 448 for efficientnet-lite0, 224 otherwise)")
    p.add_argument("--layer", default=None, help="feature layer of the nn method (default: relu4_3 / stage6)")
    p.add_argument("--alpha", default="0.05,0.1,0.15", help="comma-separated PCK thresholds (default 0.05,0.1,0.15)")
    p.add_argument("--pck-norm", choices=PCK_NORMS, default=None,
                   help="PCK threshold relative to the target image (default for pairs-csv) or to the target "
                        "bounding box (default for spair; for pairs-csv the box of the target keypoints)")
    p.add_argument("--split", default="test", help="SPair-71k annotation split folder (default test)")
    p.add_argument("--root", default=None, help="folder the pairs-csv image paths are relative to (default: the csv's folder)")
    p.add_argument("--no-flip", action="store_true",
                   help="TSS: ignore flip_gt.txt (by default flipped pairs are matched against the mirrored image2)")
    p.add_argument("--limit", type=int_in(1, None), default=None, help="evaluate only the first N pairs")
    p.add_argument("--workers", type=int_in(1, 64), default=1, help="processes evaluating pairs in parallel (default 1)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the results as JSON")
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
    title = {"tss": "TSS flow accuracy (error <= 5 px at 100 px, both directions)",
             "pairs-csv": f"PCK ({c.pck_norm} normalisation)", "spair": f"SPair-71k PCK ({c.pck_norm} normalisation)"}
    lines = [f"{title[report.dataset]}: method {c.method}, backbone {c.backbone}, size {c.size or 'original'} px, "
             f"{n_done} pairs ({len(report.skipped)} skipped), {report.seconds_per_pair:.2f} s/pair (median), "
             f"peak memory {report.peak_rss_mib:.0f} MiB, {report.workers} worker(s)"]
    published = PUBLISHED.get(report.dataset, {})
    shown = [m for m in report.metrics if report.dataset != "tss" or m == "accuracy"]
    head = ["subset" if report.dataset == "tss" else "class", "pairs"]
    head += ["ours" if m == "accuracy" else m for m in shown] + [f"{k} (paper)" for k in published]
    rows = [head]
    for g, vals in report.groups.items():
        row = [g, str(report.counts.get(g, 0))] + [_fmt(vals[m]) for m in shown]
        row += [_fmt(published[k].get(g)) for k in published]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))))
    if published:
        lines.append("(paper figures: the full 400 TSS pairs; ours: the pairs above)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    kind, path = args.dataset
    if kind not in DATASETS:
        raise InputError(f"unknown dataset kind {kind!r}: choose one of {', '.join(DATASETS)}")
    spec = get_matcher(args.method)
    backbone = check_backbone(args.backbone)
    options: dict[str, object] = {}
    for name, value in (("layer", args.layer), ("weights", args.weights)):
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
    out = check_output(args.json, [path]) if args.json else None
    config = EvalConfig(
        method=args.method, backbone=backbone, size=args.size or DEFAULT_SIZES.get(backbone, 224),
        options=tuple(sorted(options.items())), alphas=alphas,
        pck_norm=args.pck_norm or ("bbox" if kind == "spair" else "image"), use_flip=not args.no_flip,
    )
    report = evaluate(kind, pairs, config, workers=args.workers, progress=terminal)
    for p in report.skipped:
        log.warning("skipped %s: %s", p.name, p.skipped)
    if len(report.skipped) == len(report.pairs):
        raise InputError(f"no pair of {path} could be evaluated (all {len(report.pairs)} skipped)")
    print(format_table(report))
    if out is not None:
        write_json(Path(out), report.to_dict())
    return 0
