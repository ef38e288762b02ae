"""Benchmark of ``analogist appearance`` (COAT) beside Deep Image Analogy (photo2photo) and NNST (fast).

    python benchmarks/coat.py [--faces 4] [--objects 3] [--size 256] [--timing-size 512] [--timing-pairs 1]
                              [--methods free,learned,dia,nnst] [--checkpoint CKPT]

Pairs: the first ``--faces`` pairs of ``../shared/data/faces-dev/pairs.csv`` (held out from the face
checkpoint's training, which skipped the images of the first 20 pairs) and ``--objects`` object pairs of
``../shared/data/demo-pairs`` (cat -> tiger, make-up, cat -> lion). Every (pair, method) runs in a fresh
process so its peak memory (``ru_maxrss``) is its own. Printed per pair and method:

- ``ssim`` (structure kept, higher is better): SSIM of the Gaussian-blurred luminance (sigma = size/128)
  of result and content; a copy of the content scores 1.
- ``pck`` (faces only, structure kept): the project's best matcher (buddies on EfficientNet-Lite0) run
  from the content to the result; share of the content's 68 landmarks sent within 0.05 of the
  landmarks' bounding-box side of where they were (1.0: nothing moved).
- ``app`` (appearance moved, lower is better): on faces, per part (skin of the cheeks and jaw, eyes,
  brows, nose, lips: the convex hulls of their landmarks in the content/result and in the style), the
  distance between the mean and the standard deviation of CIE Lab colour of result and style, averaged
  over parts; on objects, the same over the whole image. ``app0`` is the content's own distance.
- ``tex`` (texture moved, lower is better): the same per-part distance on the texture statistics of
  :func:`band_stats` (the log magnitude of four Laplacian bands of CIE L*); ``tex0`` the content's own.
- ``s``, ``cpu_s``, ``peak_gb``: wall time, CPU seconds (user + system; contention inflates them far
  less than wall time) and peak memory of the process, at ``--size``; a second table at
  ``--timing-size`` on the first ``--timing-pairs`` pairs. COAT runs every sheet level in one call
  (matching once); its time is the matching plus the default level's synthesis (its CPU seconds
  the process's, in that proportion). For COAT, a line more per pair gives ``app``, ``tex`` and ``ssim``
  at every sheet level ``n`` (the texture level as a control), and their means close the table.

Contact sheets (content, style, DIA, NNST, COAT learned, COAT free at n = 0..3) go to
``benchmarks/out/coat/`` (gitignored: the shared images must never be committed).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out" / "coat"
OBJECTS = (
    ("cat-tiger", "dia/4photo2photo/A/A4.png", "dia/4photo2photo/BP/BP4.png"),
    ("makeup", "dia/4photo2photo/A/A3.png", "dia/4photo2photo/BP/BP3.png"),
    ("cat-lion", "nbb/original_A.png", "nbb/original_B.png"),
)
SHEET_LEVELS = (0, 1, 2, 3)
#: 68-landmark parts (0-based, 300-W order); hulls of these points
PARTS = {
    "jaw-cheeks": list(range(0, 17)) + [29, 31, 35],
    "brows": list(range(17, 27)),
    "nose": list(range(27, 36)),
    "eyes": list(range(36, 48)),
    "lips": list(range(48, 60)),
}


def pairs(faces: int, objects: int) -> list[dict]:
    out = []
    rows = list(csv.DictReader(open(SHARED / "faces-dev" / "pairs.csv")))[:faces]
    for i, r in enumerate(rows):
        pts = [[float(v) for v in r[k].split(";")] for k in ("XA", "YA", "XB", "YB")]
        out.append(
            {
                "name": f"face{i}",
                "content": str(SHARED / "faces-dev" / r["source_image"]),
                "style": str(SHARED / "faces-dev" / r["target_image"]),
                "landmarks": pts,
            }
        )
    for name, a, b in OBJECTS[:objects]:
        out.append({"name": name, "content": str(SHARED / "demo-pairs" / a), "style": str(SHARED / "demo-pairs" / b)})
    return out


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one(
    method: str, content_path: str, style_path: str, size: int, save: str, checkpoint: str | None, sheet: bool = True
) -> dict:
    """Run one method in this process (COAT at every sheet level, or at its default level only when not
    ``sheet``); save ``{"result", "levels"}`` to ``save`` (.pt)."""
    import torch

    from analogist.io import load_image

    content, style = load_image(content_path, size), load_image(style_path, size)
    levels = {}
    start, cpu0 = time.perf_counter(), _cpu()
    if method in ("free", "learned"):
        from analogist.methods.coat import COATParams, coat_levels

        # every sheet level from one run (matching once); the time is the default level's own
        form = "training-free" if method == "free" else "learned"
        params = COATParams(form=form, checkpoint=checkpoint if method == "learned" else None)
        res = coat_levels(content, style, params, list(SHEET_LEVELS) if sheet else [params.texture_level])
        levels = {n: r.image for n, r in res.items()}
        result = levels[params.texture_level]
        t = res[params.texture_level].timings
        seconds = t["align"] + t.get("synthesis", t.get("decode", 0.0))
        cpu = (_cpu() - cpu0) * seconds / max(time.perf_counter() - start, 1e-9)
    elif method == "dia":
        from analogist.methods.analogy import AnalogyParams, deep_image_analogy

        result = deep_image_analogy(content, style, AnalogyParams(size=None, mode="photo2photo")).a_prime
    else:
        from analogist.methods.nnst import preset, stylize

        result = stylize(content, style, preset("fast"))
    if method in ("dia", "nnst"):
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    torch.save({"result": result, "levels": levels}, save)
    return {"seconds": seconds, "cpu_s": cpu, "peak_gb": peak}


def lab_stats(image, mask):  # type: ignore[no-untyped-def]
    import numpy as np
    from skimage.color import rgb2lab

    lab = rgb2lab(image[0].permute(1, 2, 0).clamp(0, 1).numpy())[mask]
    return np.concatenate([lab.mean(0), lab.std(0)])


def band_stats(image, mask):  # type: ignore[no-untyped-def]
    """Texture of a region: the log mean magnitude of four Laplacian-pyramid bands of CIE L* (fine
    to coarse, each brought back to full size so small parts keep their pixels); a distance of 0.1 is
    about 10 % more or less detail in a band."""
    import cv2
    import numpy as np
    from skimage.color import rgb2lab

    g = (rgb2lab(image[0].permute(1, 2, 0).clamp(0, 1).numpy())[..., 0] / 100.0).astype(np.float32)
    size = (g.shape[1], g.shape[0])
    out = []
    for _ in range(4):
        down = cv2.pyrDown(g)
        band = np.abs(g - cv2.pyrUp(down, dstsize=(g.shape[1], g.shape[0])))
        out.append(np.log(cv2.resize(band, size, interpolation=cv2.INTER_LINEAR)[mask].mean() + 1e-4))
        g = down
    return np.asarray(out)


def hull_mask(points, shape):  # type: ignore[no-untyped-def]
    import cv2
    import numpy as np

    pts = np.asarray([p for p in points if np.isfinite(p).all()], np.float32)
    mask = np.zeros(shape, np.uint8)
    if len(pts) >= 3:
        cv2.fillConvexPoly(mask, cv2.convexHull(pts).astype(np.int32), 1)
    return mask.astype(bool)


def appearance(result, content, style, pair: dict, stats=lab_stats) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(distance of result to style, distance of content to style) as in the module docstring, of
    colour (``lab_stats``) or texture (``band_stats``)."""
    import numpy as np

    if "landmarks" not in pair:
        full_c, full_s = np.ones(content.shape[-2:], bool), np.ones(style.shape[-2:], bool)
        s = stats(style, full_s)
        return float(np.abs(stats(result, full_c) - s).mean()), float(np.abs(stats(content, full_c) - s).mean())
    xa, ya, xb, yb = (np.asarray(v) for v in pair["landmarks"])
    sc, ss = content.shape[-1] / 256.0, style.shape[-1] / 256.0  # faces-dev crops are 256 px
    d_res, d_con = [], []
    for idx in PARTS.values():
        mc = hull_mask(np.stack([xa[idx] * sc, ya[idx] * sc], 1), content.shape[-2:])
        ms = hull_mask(np.stack([xb[idx] * ss, yb[idx] * ss], 1), style.shape[-2:])
        if mc.sum() < 4 or ms.sum() < 4:
            continue
        s = stats(style, ms)
        d_res.append(np.abs(stats(result, mc) - s).mean())
        d_con.append(np.abs(stats(content, mc) - s).mean())
    return float(np.mean(d_res)), float(np.mean(d_con))


def structure(result, content, pair: dict) -> tuple[float, float | None]:  # type: ignore[no-untyped-def]
    import numpy as np
    import torch
    from scipy.ndimage import gaussian_filter
    from skimage.metrics import structural_similarity

    def luma(x) -> np.ndarray:  # type: ignore[no-untyped-def]
        y = (x[0] * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0).numpy()
        return gaussian_filter(y, max(x.shape[-2:]) / 128)

    ssim = float(structural_similarity(luma(result), luma(content), data_range=1.0))
    if "landmarks" not in pair:
        return ssim, None
    from analogist.eval.matchers import get_matcher

    flow = get_matcher("buddies").fn(content, result.clamp(0, 1), backbone="efficientnet-lite0")
    xa, ya = np.asarray(pair["landmarks"][0]), np.asarray(pair["landmarks"][1])
    sc = content.shape[-1] / 256.0
    ok = np.isfinite(xa) & np.isfinite(ya)
    px, py = xa[ok] * sc, ya[ok] * sc
    side = max(px.max() - px.min(), py.max() - py.min())
    h, w = content.shape[-2:]
    ix, iy = np.clip(np.round(px).astype(int), 0, w - 1), np.clip(np.round(py).astype(int), 0, h - 1)
    moved = np.hypot(flow[0].numpy()[iy, ix], flow[1].numpy()[iy, ix])
    return ssim, float((moved <= 0.05 * side).mean())


def alignment(faces: int, size: int) -> None:
    """How right the confident correspondences are, per scale and matching context, on face pairs:
    of the content landmarks whose cell is in the confident set (``kept``), the share whose matched
    style cell lies within 0.1 of the landmarks' bounding-box side of the style's landmark (``pck``)."""
    import numpy as np
    import torch

    from analogist.features import get_backbone
    from analogist.features.hypercolumn import Extractor
    from analogist.io import load_image
    from analogist.methods.coat import COATParams
    from analogist.methods.coat.correspond import SCALES, match_scales

    ex = Extractor(get_backbone("vgg16-hed"), bf16=False)
    stats: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for pair in pairs(faces, 0):
        c, s = load_image(pair["content"], size), load_image(pair["style"], size)
        with torch.no_grad():
            h1, h2 = ex.hyper(c), ex.hyper(s)
        xa, ya, xb, yb = (np.asarray(v) * size / 256.0 for v in pair["landmarks"])
        ok = np.isfinite(xa) & np.isfinite(ya) & np.isfinite(xb) & np.isfinite(yb)
        side = max(np.nanmax(xb) - np.nanmin(xb), np.nanmax(yb) - np.nanmin(yb))
        (gh, gw), sw = h1.shape[-2:], h2.shape[-1]
        for context in ("pyramid", "own"):
            conf = match_scales(h1, h2, COATParams(context=context))
            for name, _, _ in SCALES:
                cs = conf[name]
                i = np.clip(ya[ok] / 4, 0, gh - 1).astype(int) * gw + np.clip(xa[ok] / 4, 0, gw - 1).astype(int)
                kept = cs.mask[i].numpy()
                j = cs.index[i].numpy()
                px, py = (j % sw + 0.5) * 4, (j // sw + 0.5) * 4
                right = np.hypot(px - xb[ok], py - yb[ok]) <= 0.1 * side
                stats.setdefault((context, name), []).append(
                    (int(ok.sum()), int(kept.sum()), int((right & kept).sum()))
                )
    print(f"confident correspondences at the landmarks of {faces} face pairs, {size} px:")
    print(f"{'context':8} {'scale':7} {'kept':>6} {'pck@0.1 of kept':>15}")
    for (context, name), rows in stats.items():
        a = np.asarray(rows).sum(0)
        print(f"{context:8} {name:7} {a[1] / a[0]:6.2f} {a[2] / max(a[1], 1):15.2f}")


def _levels_line(rows) -> str:  # type: ignore[no-untyped-def]
    """``app / tex / ssim`` at every sheet level, from rows ``[app, tex, ssim]`` in level order."""
    return (
        "at n = "
        + ", ".join(f"{n}: {a:.2f} / {t:.3f} / {s:.3f}" for n, (a, t, s) in zip(SHEET_LEVELS, rows))
        + " (app / tex / ssim)"
    )


def run_one(method: str, pair: dict, size: int, checkpoint: str | None, tag: str) -> dict | None:
    """``one`` in a fresh process; ``None`` (and a note) when it fails."""
    OUT.mkdir(parents=True, exist_ok=True)
    save = OUT / f"{pair['name']}-{method}-{size}{tag}.pt"
    cmd = [
        sys.executable,
        __file__,
        "--one",
        method,
        pair["content"],
        pair["style"],
        str(size),
        str(save),
        checkpoint or "",
        "sheet" if not tag else "",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode:
        print(f"  {pair['name']} {method}: failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "save": str(save)}


def sheet(pair: dict, size: int) -> None:
    """Contact sheet of every method's saved result for ``pair`` (also those of earlier runs)."""
    import torch

    from analogist.io import load_image, save_image
    from analogist.methods.coat.pictures import contact_sheet

    content, style = load_image(pair["content"], size), load_image(pair["style"], size)
    row = [content, style]
    saved = {m: OUT / f"{pair['name']}-{m}-{size}.pt" for m in ("dia", "nnst", "learned", "free")}
    saved = {m: p for m, p in saved.items() if p.is_file()}
    for m in ("dia", "nnst", "learned"):
        if m in saved:
            row.append(torch.load(saved[m])["result"])
    if "free" in saved:
        levels = torch.load(saved["free"])["levels"]
        row += [levels[n] for n in SHEET_LEVELS]
    save_image(OUT / f"{pair['name']}.png", contact_sheet([row], height=192))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=4)
    ap.add_argument("--objects", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--timing-size", type=int, default=512)
    ap.add_argument("--timing-pairs", type=int, default=1)
    ap.add_argument("--timing-only", action="store_true", help="skip the table at --size")
    ap.add_argument("--methods", default="free,learned,dia,nnst")
    ap.add_argument("--checkpoint", default=None, help="COAT learned checkpoint (default: the usual lookup)")
    ap.add_argument(
        "--alignment",
        type=int,
        default=0,
        metavar="N",
        help="only measure the confident correspondences on N face pairs (both matching contexts)",
    )
    args = ap.parse_args()
    if args.alignment:
        alignment(args.alignment, args.size)
        return
    import torch

    from analogist.io import load_image

    methods = args.methods.split(",")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; torch threads {torch.get_num_threads()}")
    print(
        f"{'pair':10} {'method':8} {'size':>4} {'ssim':>6} {'pck':>5} {'app':>6} {'app0':>6} {'tex':>5} {'tex0':>5} "
        f"{'s':>7} {'cpu_s':>7} {'peak_gb':>7}"
    )
    totals: dict[str, list[list[float]]] = {}
    level_apps: dict[str, list[list[float]]] = {}
    for pair in [] if args.timing_only else pairs(args.faces, args.objects):
        content, style = load_image(pair["content"], args.size), load_image(pair["style"], args.size)
        for m in methods:
            r = run_one(m, pair, args.size, args.checkpoint, "")
            if r is None:
                continue
            result = torch.load(r["save"])["result"].float()
            ssim, pck = structure(result, content, pair)
            app, app0 = appearance(result, content, style, pair)
            tex, tex0 = appearance(result, content, style, pair, band_stats)
            totals.setdefault(m, []).append([ssim, pck if pck is not None else float("nan"), app, app0, tex, tex0])
            pck_s = f"{pck:5.2f}" if pck is not None else "    -"
            print(
                f"{pair['name']:10} {m:8} {args.size:4d} {ssim:6.3f} {pck_s} {app:6.2f} {app0:6.2f} {tex:5.3f} {tex0:5.3f} "
                f"{r['seconds']:7.1f} {r['cpu_s']:7.1f} {r['peak_gb']:7.2f}",
                flush=True,
            )
            levels = torch.load(r["save"])["levels"]
            if levels:  # the texture level as a control: both distances and SSIM at every sheet level
                rows = []
                for n in SHEET_LEVELS:
                    img = levels[n].float()
                    rows.append(
                        [
                            appearance(img, content, style, pair)[0],
                            appearance(img, content, style, pair, band_stats)[0],
                            structure(img, content, {})[0],
                        ]
                    )
                level_apps.setdefault(m, []).append(rows)
                print(f"{'':10} {m:8} {_levels_line(rows)}", flush=True)
        sheet(pair, args.size)
    import numpy as np

    print("\nmeans over pairs (pck over faces only):")
    for m, rows in totals.items():
        a = np.asarray(rows)
        print(
            f"  {m:8} ssim {np.nanmean(a[:, 0]):.3f}  pck {np.nanmean(a[:, 1]):.2f}  app {a[:, 2].mean():.2f} "
            f"(content {a[:, 3].mean():.2f})  tex {a[:, 4].mean():.3f} (content {a[:, 5].mean():.3f})  n={len(a)}"
        )
    for m, rows in level_apps.items():
        print(f"  {m:8} {_levels_line(np.asarray(rows).mean(0))}  n={len(rows)}")
    if args.timing_pairs:
        print(f"\ntime and peak memory at {args.timing_size} px:")
        for pair in pairs(args.faces, args.objects)[: args.timing_pairs]:
            for m in methods:
                r = run_one(m, pair, args.timing_size, args.checkpoint, "-timing")
                if r is not None:
                    print(
                        f"  {pair['name']:10} {m:8} {r['seconds']:7.1f} s  cpu {r['cpu_s']:7.1f} s  "
                        f"peak {r['peak_gb']:.2f} GB",
                        flush=True,
                    )
    print(f"\ncontact sheets in {OUT}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        m, c, s, size, save, ckpt, levels = sys.argv[2:9]
        print(json.dumps(one(m, c, s, int(size), save, ckpt or None, bool(levels))))
    else:
        main()
