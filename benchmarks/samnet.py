"""SAM-Net figures: TSS-sample flow accuracy and faces-dev PCK per form and iteration count, the wo/Att.
ablation, the other matchers on the same table, and time and peak memory per pair at 224 and 448 px.

    python benchmarks/samnet.py                          # everything (long: baselines run DIA and NBB)
    python benchmarks/samnet.py --faces 60 --no-baselines
    python benchmarks/samnet.py --timing-only

One SAM-Net run of 10 iterations gives the flows of iterations 1, 2, 3, 5 and 10 at once (iteration l
does not depend on how many follow it). Every configuration runs in a fresh process, so that its peak
resident memory (ru_maxrss) is its own; ``--threads`` (default 1) keeps it fair on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from analogist.methods.samnet import SAMNetParams

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ITERS = (1, 2, 3, 5, 10)
#: (label, matcher options) of the SAM-Net rows; backbone efficientnet-lite0 stage5 at 448 px (the defaults)
FORMS = {
    "training-free": {"form": "training-free"},
    "training-free wo/Att.": {"form": "training-free", "attribute": False},
    "learned": {"form": "learned"},
    "learned wo/Att.": {"form": "learned", "attribute": False},
    "learned b=0.9": {"form": "learned", "skip_weight": 0.9},
    # the attribute-transfer variants compared for the default (see the README)
    "training-free + learned decoder": {"form": "training-free", "transfer": "learned"},
    "training-free + learned decoder b=0.9": {"form": "training-free", "transfer": "learned", "skip_weight": 0.9},
    # lambda_l scaled (the default is x0.5; the paper's schedule is x1)
    "training-free lambda x0.25": {"form": "training-free", "lambda_scale": 0.25},
    "training-free lambda x0.75": {"form": "training-free", "lambda_scale": 0.75},
    "training-free lambda x1": {"form": "training-free", "lambda_scale": 1.0},
    # where the field starts (the default is best-buddies' field; the paper's is the identity)
    "training-free init buddies": {"form": "training-free", "init": "buddies"},
    "training-free init buddies no attribute transfer": {
        "form": "training-free",
        "init": "buddies",
        "attribute": False,
    },
    "training-free init identity": {"form": "training-free", "init": "identity"},
    # the finer last step (SAMNetParams.refine) off: the default before it
    "training-free no refine": {"form": "training-free", "refine": ""},
    "learned no refine": {"form": "learned", "refine": ""},
}
#: (label, method, backbone, size) of the other matchers, each at its documented default size
BASELINES = [
    ("nn", "nn", "efficientnet-lite0", 448),
    ("dia", "dia", "efficientnet-lite0", 224),
    ("buddies", "buddies", "efficientnet-lite0", 224),
]

_SCORE = r"""
import json, sys, torch
torch.set_num_threads({threads})
from analogist.eval import matchers
from analogist.eval.datasets import pairs_csv, tss_pairs
from analogist.eval.runner import EvalConfig, evaluate
from analogist.methods.samnet import SAMNetParams, sam_net
opts, method, backbone, size, faces, iters = {opts!r}, {method!r}, {backbone!r}, {size}, {faces}, {iters!r}
norm = {norm!r}
cache = {{}}
if method == "samnet-all":
    # one 10-iteration run per pair and direction, every iteration's flow kept
    @matchers.register("samnet-all", "benchmark helper", options=("pick",))
    def _all(a, b, *, backbone, pick, **kw):
        key = (a.shape, b.shape, float(a.sum()), float(b.sum()))
        if key not in cache:
            p = SAMNetParams(size=None, iters=max(iters), keep_iterations=True, backbone=backbone, **kw)
            cache[key] = [it.flow for it in sam_net(a, b, p).iterations]
        return cache[key][pick - 1]
out = {{}}
for it in (iters if method == "samnet-all" else [None]):
    o = dict(opts, pick=it) if it else dict(opts)
    cfg = EvalConfig(method, backbone, size, options=tuple(sorted(o.items())), pck_norm=norm)
    row = {{}}
    if faces:
        r = evaluate("pairs-csv", pairs_csv("{data}/faces-dev/pairs.csv")[{skip}:{skip} + faces], cfg)
        row["pck05"], row["pck10"] = r.groups["mean"]["pck@0.05"], r.groups["mean"]["pck@0.1"]
        row["pairs10"] = [p.scores.get("pck@0.1") for p in r.pairs]
    if {tss}:
        r = evaluate("tss", tss_pairs("{data}/tss-sample"), cfg)
        row["tss"] = r.groups["mean"]["accuracy"]
    out[str(it)] = row
print(json.dumps(out))
"""

_TIME = r"""
import json, resource, time, torch
torch.set_num_threads({threads})
from analogist.eval.datasets import pairs_csv
from analogist.eval.matchers import get_matcher
from analogist.io import load_image
p = pairs_csv("{data}/faces-dev/pairs.csv")[0]
a, b = load_image(p.source, {size}), load_image(p.target, {size})
fn = get_matcher({method!r}).fn
times = []
for _ in range({repeats}):
    t = time.perf_counter(); fn(a, b, backbone={backbone!r}, **{opts!r}); times.append(time.perf_counter() - t)
print(json.dumps({{"s": sorted(times)[len(times) // 2], "mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _python(code: str) -> dict:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=300, help="faces-dev pairs scored (default all 300)")
    ap.add_argument(
        "--baseline-faces", type=int, default=None, help="faces-dev pairs for nn/dia/buddies (default --faces)"
    )
    ap.add_argument("--skip", type=int, default=0, help="faces-dev pairs skipped before the scored ones (default 0)")
    ap.add_argument("--no-baselines", action="store_true", help="leave out nn, dia and buddies")
    ap.add_argument("--baselines", default="nn,dia,buddies", help="comma-separated other matchers (default all three)")
    ap.add_argument("--forms", default=",".join(FORMS), help="comma-separated SAM-Net rows ('' for none)")
    ap.add_argument("--no-tss", action="store_true", help="leave out the TSS sample (faces-dev only)")
    ap.add_argument("--json", default=None, metavar="PATH", help="also write every row, per-pair PCK@0.1 included")
    ap.add_argument(
        "--pck-norm",
        choices=("bbox", "image"),
        default="bbox",
        help="faces-dev PCK threshold relative to the target landmarks' box (default) or to the image",
    )
    ap.add_argument("--timing-only", action="store_true", help="only time and memory at 224 and 448 px")
    ap.add_argument("--sizes", default="224,448", help="sizes timed (default 224,448)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (median)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    args = ap.parse_args()
    if not (DATA / "faces-dev").is_dir():
        sys.exit(f"no benchmark data at {DATA}")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []
    for label in [f for f in args.forms.split(",") if f]:
        if label not in FORMS:
            sys.exit(f"unknown form row {label!r}: choose from {', '.join(FORMS)}")
        opts = FORMS[label]
        scores = (
            {}
            if args.timing_only
            else _python(
                _SCORE.format(
                    threads=args.threads,
                    opts=opts,
                    method="samnet-all",
                    backbone="efficientnet-lite0",
                    size=448,
                    faces=args.faces,
                    skip=args.skip,
                    tss=not args.no_tss,
                    iters=ITERS,
                    data=DATA,
                    norm=args.pck_norm,
                )
            )
        )
        timing = {
            s: _python(
                _TIME.format(
                    threads=args.threads,
                    size=s,
                    method="samnet",
                    backbone="efficientnet-lite0",
                    opts=opts,
                    repeats=args.repeats,
                    data=DATA,
                )
            )
            for s in sizes
        }
        for it in ITERS:
            if "error" in scores:
                rows.append((f"samnet {label}", it, scores, timing))
                break
            # the timing runs the matcher's own iteration count: print it on that row
            timed = it == opts.get("iters", SAMNetParams().iters)
            if it != ITERS[-1] and "wo/Att." in label and not timed:
                continue
            rows.append((f"samnet {label}", it, scores.get(str(it), {}), timing if timed else {}))
    if not args.no_baselines:
        chosen = [b for b in args.baselines.split(",") if b]
        for label, method, backbone, size in [b for b in BASELINES if b[0] in chosen]:
            scores = (
                {}
                if args.timing_only
                else _python(
                    _SCORE.format(
                        threads=args.threads,
                        opts={},
                        method=method,
                        backbone=backbone,
                        size=size,
                        faces=args.baseline_faces or args.faces,
                        skip=args.skip,
                        tss=not args.no_tss,
                        iters=ITERS,
                        data=DATA,
                        norm=args.pck_norm,
                    )
                )
            )
            timing = {
                s: _python(
                    _TIME.format(
                        threads=args.threads,
                        size=s,
                        method=method,
                        backbone=backbone,
                        opts={},
                        repeats=args.repeats,
                        data=DATA,
                    )
                )
                for s in sizes
            }
            rows.append((f"{label} ({backbone}, {size} px)", None, scores.get("None", scores), timing))
    _print(rows, sizes, args)
    if args.json:
        Path(args.json).write_text(json.dumps([{"label": r[0], "iters": r[1], **r[2]} for r in rows]))


def _print(rows: list, sizes: list[int], args: argparse.Namespace) -> None:
    head = f"{'method':42s} {'iters':>5s} {'TSS':>6s} {'PCK.05':>7s} {'PCK.1':>6s}"
    head += "".join(f" {f's@{s}':>7s} {f'MB@{s}':>7s}" for s in sizes)
    print(
        f"faces-dev: {args.faces} pairs from pair {args.skip} (baselines {args.baseline_faces or args.faces}), PCK "
        f"{args.pck_norm}-normalised; TSS: the six sample "
        f"pairs, both directions; time: median of {args.repeats} on faces-dev pair 1, {args.threads} thread(s)"
    )
    print(head)

    def fmt(v: object, spec: str) -> str:
        return format(v, spec) if isinstance(v, float) else "-"

    for label, it, sc, timing in rows:
        if "error" in sc:
            print(f"{label:42s} error: {sc['error']}")
            continue
        line = (
            f"{label:42s} {it if it else '':>5} {fmt(sc.get('tss'), '6.3f'):>6s} {fmt(sc.get('pck05'), '7.3f'):>7s} "
            f"{fmt(sc.get('pck10'), '6.3f'):>6s}"
        )
        for s in sizes:
            t = timing.get(s, {})
            line += f" {fmt(t.get('s'), '7.2f'):>7s} {fmt(t.get('mb'), '7.0f'):>7s}"
        print(line)
    print("paper (SAM-Net, all 400 TSS pairs): 0.818; shared machine: timings are noisy, compare ratios")


if __name__ == "__main__":
    main()
