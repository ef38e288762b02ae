"""Why align lines up a face pair or not: each scaled search against the pair's own landmarks.

For one faces-dev pair (a row of ``pairs.csv``; B optionally cropped to a box given as shares of its
sides, as the gallery crops its zoomed pairs), per search scale (B's search size over A's): the best
buddies found, the share of them within ``--near`` of B's longer side of where the landmarks' best similarity puts
them, the scale of the global map fitted to them, its landmark PCK@0.1 (box-normalised by B's
landmark box) and the judge's feature agreement (``apps.pair_search.agreement``); then the same
agreement under the landmarks' similarity itself. Images at align's 448 px (``--size``), the search
at 224 px.

    python benchmarks/align_scales.py --row 225 --crop 0.1,0.2,0.75,0.85 --size 256    # gallery's face-225-zoom
"""

from __future__ import annotations

import argparse
import csv

import numpy as np
import torch
from align_faces import DATA, SIZE, errors, landmarks
from PIL import Image

from analogist.apps.align import _plan
from analogist.apps.pair_fit import FitParams, _lsq, select_pairs
from analogist.apps.pair_search import DEFORM_BACKBONE, _judge_features, agreement, scaled_searches
from analogist.io import load_image, resize_longer
from analogist.methods.buddies import BuddiesParams


def _in_pixels(lm: np.ndarray, given: int, loaded: int) -> np.ndarray:
    return (lm + 0.5) * loaded / given - 0.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--row", type=int, required=True, help="row of faces-dev/pairs.csv (0-based)")
    ap.add_argument("--crop", default="", help="x0,y0,x1,y1 of B as shares of its sides (default: none)")
    ap.add_argument("--scales", default="1,0.5,2", help="B's search size over A's, comma-separated")
    ap.add_argument("--size", type=int, default=SIZE, help=f"the images' longer side (default {SIZE}, align's)")
    ap.add_argument("--near", type=float, default=0.05, help="share of B's longer side (default 0.05)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    row = list(csv.DictReader(open(DATA / "pairs.csv", newline="")))[args.row]
    im_a, im_b = Image.open(DATA / row["source_image"]), Image.open(DATA / row["target_image"]).convert("RGB")
    lb = landmarks(row, "B")
    if args.crop:
        x0, y0, x1, y1 = (float(v) for v in args.crop.split(","))
        w, h = im_b.size
        box = (int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h))
        im_b, lb = im_b.crop(box), lb - box[:2]
    a = load_image(DATA / row["source_image"], args.size)
    b = resize_longer(torch.from_numpy(np.asarray(im_b, dtype=np.float32) / 255).permute(2, 0, 1)[None], args.size)
    la = _in_pixels(landmarks(row, "A"), im_a.size[0], a.shape[-1])
    lb = _in_pixels(lb, im_b.size[0], b.shape[-1])
    ok = np.isfinite(la).all(1) & np.isfinite(lb).all(1)
    truth = _lsq(la[ok], lb[ok], np.ones(int(ok.sum())), "similarity")
    shape_a, shape_b = tuple(a.shape[-2:]), tuple(b.shape[-2:])
    params = BuddiesParams(k=15, backbone=DEFORM_BACKBONE)
    fa, fb = _judge_features(a, params), _judge_features(b, params)
    scales = tuple(float(s) for s in args.scales.split(","))
    scale, bound = np.sqrt(abs(np.linalg.det(truth[:2, :2]))), np.mean(errors(truth, la, lb) < 0.1)
    print(f"landmarks' similarity: B's face {scale:.2f} times A's, PCK@0.1 {bound:.2f} (no global map does better)")
    for s, (pts, ranks) in zip(scales, scaled_searches(a, b, params, scales)):
        if pts.shape[0] < 3:
            print(f"scale {s:4.2f}: {pts.shape[0]} buddies")
            continue
        m = _plan(pts[select_pairs(pts, ranks, 15, params=FitParams())], shape_b, FitParams())[0]
        there = pts[:, :2].double().numpy() @ truth[:2, :2].T + truth[:2, 2]
        near = np.mean(np.linalg.norm(there - pts[:, 2:4].numpy(), axis=1) < args.near * max(shape_b))
        print(
            f"scale {s:4.2f}: {pts.shape[0]:5d} buddies, {near:.2f} near the landmarks' map; fitted map scales "
            f"{float(torch.linalg.det(m[:2, :2]).abs().sqrt()):.2f}, PCK@0.1 {np.mean(errors(m.numpy(), la, lb) < 0.1):.2f}, "
            f"agreement {agreement(m, fa, fb, shape_a, shape_b):.3f}"
        )
    print(
        f"agreement under the landmarks' similarity: {agreement(torch.from_numpy(truth), fa, fb, shape_a, shape_b):.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
