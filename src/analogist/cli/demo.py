"""``analogist demo``: every method on the bundled example images, into a fresh folder."""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from ..data import example_path
from ..errors import InputError
from ..features import get_backbone
from ..features.visualize import pca_rgb
from ..io import check_output_dir, load_image, save_image
from ..progress import Progress, terminal

#: CLI modules whose ``demo(outdir, progress) -> list[Path]`` runs their method on bundled examples.
DEMOS = ("features",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run every method on the bundled example images")
    p.add_argument("-o", "--output", default="analogist-demo",
                   help="folder to create (default analogist-demo; a numbered sibling if it is not empty)")
    p.add_argument("--only", choices=DEMOS, action="append", help="run only this demo (repeatable)")
    p.set_defaults(func=run)


def fresh_folder(path: Path) -> Path:
    """``path`` if absent or empty, otherwise the first free ``path-2``, ``path-3``, ..."""
    candidate, n = path, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
        if n > 999:
            raise InputError(f"no free folder name next to {path}")
    return check_output_dir(candidate)


def features_demo(outdir: Path, progress: Progress) -> list[Path]:
    """PCA pictures of the vgg16-hed and efficientnet-lite0 pyramids of the bundled cat."""
    outdir.mkdir(parents=True, exist_ok=True)
    image = load_image(example_path("cat.jpg"), 256)
    written = [save_image(outdir / "cat.png", image)]
    for name, layer in progress([("vgg16-hed", "relu3_1"), ("vgg16-hed", "relu4_1"), ("efficientnet-lite0", "stage4")],
                                desc="features"):
        feats = get_backbone(name).extract(image, [layer])[layer]
        written.append(save_image(outdir / f"{name}_{layer}.png", pca_rgb(feats)))
    return written


def run(args: argparse.Namespace) -> int:
    outdir = fresh_folder(Path(args.output))
    for name in args.only or DEMOS:
        start = time.perf_counter()
        if name == "features":
            written = features_demo(outdir / "features", terminal)
        else:
            written = importlib.import_module(f"{__package__}.{name}").demo(outdir / name, terminal)
        print(f"{name}: {len(written)} files in {outdir / name} ({time.perf_counter() - start:.1f} s)")
    print(f"demo outputs: {outdir}")
    return 0
