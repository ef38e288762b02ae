"""Benchmark of ``analogist stylize`` (NNST-Opt) on the papers' content/style pairs.

    python benchmarks/stylize.py [--size 512] [--preset fast --preset paper --preset decoder] [--pairs 3] [--threads N]
                                 [--decoder CKPT]

Runs every pair of ``../shared/data/demo-pairs/nnst`` (from ``pairs.csv``) and a few Deep Image
Analogy photo-to-style pairs, each configuration in a fresh process so that the peak memory
(``ru_maxrss``) is its own, and prints per pair: time, peak memory and two quality figures.

- ``style`` (lower is better): mean zero-centred cosine distance from each output hypercolumn to its
  nearest style hypercolumn (style and its rotations, fp32, the same features as the method). It is the
  quantity NNST drives down (Eq. 1 and 8), measured afresh on the final, colour-processed image: how
  far the output is from being made of the style's features. The content itself is given as a baseline.
- ``ssim`` (higher is better): SSIM between the luminance of the output and of the content, both
  Gaussian-blurred with sigma = size/128 px so the brush texture the method should add does not count:
  how well the content's layout survives. A plain copy of the content scores 1.

A contact sheet (content, style, result without and with colour post-processing) per preset goes to
``benchmarks/out/stylize/`` (gitignored: the shared images must never be committed).
Timings on a shared machine are inflated by other processes; the script prints the load average and
the CPU seconds of each run (user + system), which contention inflates far less: on idle cores the
wall time is about CPU seconds / threads.
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
SHARED = ROOT.parent / "shared" / "data" / "demo-pairs"
OUT = ROOT / "benchmarks" / "out" / "stylize"
DIA_PAIRS = ("dia/1photo2style/A/A1.png", "dia/1photo2style/A/A3.png", "dia/demo/content.png")


def pairs() -> list[tuple[str, str, str]]:
    """``(name, content, style)`` paths: every nnst pair, then a few DIA photo-to-style pairs."""
    rows = list(csv.DictReader(open(SHARED / "pairs.csv")))
    out = []
    for r in rows:
        if r["image_A"].startswith("nnst/") or r["image_A"] in DIA_PAIRS:
            name = Path(r["image_A"]).stem + "-" + Path(r["image_B"]).stem
            if r["image_A"].startswith("dia/"):
                name = r["image_A"].split("/")[1][:7] + "-" + name
            out.append((name, str(SHARED / r["image_A"]), str(SHARED / r["image_B"])))
    return sorted(out, key=lambda p: "/dia/" in p[1])  # the NNST pairs first


def quality(result, content, style) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The two figures of the module docstring for ``(1, 3, H, W)`` tensors."""
    import numpy as np
    import torch
    from scipy.ndimage import gaussian_filter
    from skimage.metrics import structural_similarity

    from analogist.features import get_backbone
    from analogist.features.hypercolumn import Extractor
    from analogist.matching.hypercolumn import Keys, flatten, match
    from analogist.methods.nnst.samples import style_samples

    ex = Extractor(get_backbone("vgg16-hed"), bf16=False)
    styles = style_samples(ex, style, rotations=True, max_samples=32768, generator=torch.Generator().manual_seed(0))
    keys = Keys.build(styles.feats)

    def style_distance(image) -> float:  # type: ignore[no-untyped-def]
        q = flatten(ex.hyper(image))
        idx = match(q, keys)
        qc = q - q.mean(dim=1, keepdim=True)
        sc = styles.feats - styles.feats.mean(dim=1, keepdim=True)
        return float((1 - torch.nn.functional.cosine_similarity(qc, sc[:, idx], dim=0)).mean())

    def luma(x) -> np.ndarray:  # type: ignore[no-untyped-def]
        y = (x[0] * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0).numpy()
        return gaussian_filter(y, max(x.shape[-2:]) / 128)

    with torch.no_grad():
        return {
            "style": style_distance(result),
            "style_content": style_distance(content),
            "ssim": float(structural_similarity(luma(result), luma(content), data_range=1.0)),
        }


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one(content_path: str, style_path: str, preset: str, size: int, save: str) -> dict[str, float]:
    """Run one configuration in this process; save the raw and coloured results to ``save`` (.pt)."""
    import torch

    from analogist.io import load_image
    from analogist.methods.nnst import preset as get_preset
    from analogist.methods.nnst import stylize
    from analogist.synthesis import color

    content, style = load_image(content_path, size), load_image(style_path, size)
    params = get_preset(preset, color=False)
    start, cpu0 = time.perf_counter(), _cpu()
    raw = stylize(content, style, params)
    radius = max(1, round(params.color_radius * max(content.shape[-2:]) / 512))
    coloured = color.postprocess(raw, content, style, radius=radius)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    torch.save({"raw": raw, "color": coloured, "content": content, "style": style}, save)
    return {"seconds": seconds, "cpu_s": cpu, "peak_gb": peak, **quality(coloured, content, style)}


def sheet(rows, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Contact sheet: one row per pair (content | style | without colour step | with it), 256 px high."""
    import torch
    import torch.nn.functional as F

    from analogist.io import save_image

    lines = []
    for r in rows:
        tiles = [r["content"], r["style"], r["raw"], r["color"]]
        tiles = [
            F.interpolate(
                t,
                size=(256, round(256 * t.shape[-1] / t.shape[-2])),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            for t in tiles
        ]
        lines.append(torch.cat(tiles, dim=3))
    width = max(x.shape[-1] for x in lines)
    lines = [F.pad(x, (0, width - x.shape[-1]), value=1.0) for x in lines]
    save_image(path, torch.cat(lines, dim=2))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--preset", action="append", choices=("fast", "paper", "decoder"), help="default: fast and paper")
    ap.add_argument(
        "--decoder",
        default=None,
        metavar="CKPT",
        help="NNST-D checkpoint for --preset decoder (default: looked up as by analogist stylize)",
    )
    ap.add_argument("--pairs", type=int, default=None, help="only the first N pairs")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N pairs")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (OMP_NUM_THREADS) per run")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="take fast/paper figures from the cache of earlier runs (benchmarks/out/stylize/figures-SIZE.json) "
        "instead of running them again (their results depend on the code only, not on a checkpoint)",
    )
    ap.add_argument("--one", nargs=4, metavar=("CONTENT", "STYLE", "PRESET", "SAVE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(*args.one[:3], args.size, args.one[3])))
        return 0
    if not SHARED.is_dir():
        print(f"{SHARED} is missing: nothing to benchmark")
        return 1
    import torch

    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}))
    if args.decoder:
        env["ANALOGIST_NNST_D_CHECKPOINT"] = str(Path(args.decoder).resolve())
    todo = pairs()[args.skip : args.pairs]
    print(f"size {args.size}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start")
    print(
        f"{'pair':28s} {'preset':7s} {'time s':>7s} {'cpu s':>7s} {'peak GB':>7s} {'style':>6s} {'(content)':>9s} {'ssim':>5s}"
    )
    cache_path = OUT / f"figures-{args.size}.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for preset in args.preset or ["fast", "paper"]:
        rows, figures = [], []
        for name, c, s in todo:
            key = f"{name}/{preset}"
            if args.reuse and preset != "decoder" and key in cache:
                f = cache[key]
                figures.append(f)
                print(
                    f"{name:28s} {preset:7s} {f['seconds']:7.1f} {f['cpu_s']:7.1f} {f['peak_gb']:7.2f} "
                    f"{f['style']:6.3f} {f['style_content']:9.3f} {f['ssim']:5.3f} (cached)"
                )
                continue
            save = OUT / f"{name}_{preset}.pt"  # NNST-D (decoder) leaves its colour step to this script too
            res = subprocess.run(
                [sys.executable, __file__, "--size", str(args.size), "--one", c, s, preset, str(save)],
                capture_output=True,
                text=True,
                env=env,
            )
            if res.returncode:
                print(f"{name:28s} {preset:7s} failed: {res.stderr.strip().splitlines()[-1:]}")
                continue
            f = json.loads(res.stdout.strip().splitlines()[-1])
            figures.append(f)
            if preset != "decoder":  # a decoder's figures depend on its checkpoint: never cached
                cache[key] = f
                cache_path.write_text(json.dumps(cache, indent=1))
            print(
                f"{name:28s} {preset:7s} {f['seconds']:7.1f} {f['cpu_s']:7.1f} {f['peak_gb']:7.2f} {f['style']:6.3f} "
                f"{f['style_content']:9.3f} {f['ssim']:5.3f}",
                flush=True,
            )
            rows.append(torch.load(save))
            save.unlink()
        if figures:
            med = {k: sorted(x[k] for x in figures)[len(figures) // 2] for k in figures[0]}
            print(
                f"{'median':28s} {preset:7s} {med['seconds']:7.1f} {med['cpu_s']:7.1f} {med['peak_gb']:7.2f} {med['style']:6.3f} "
                f"{med['style_content']:9.3f} {med['ssim']:5.3f}"
            )
            if rows:  # none where every figure came from the cache
                sheet(rows, OUT / f"sheet_{preset}_{args.size}.jpg")
                print(f"contact sheet: {OUT / f'sheet_{preset}_{args.size}.jpg'}")
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
