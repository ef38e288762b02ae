"""Regenerate the README's result pictures in docs/images from the bundled examples (outputs are committed).

python tools/make_readme_images.py [analogy] [buddies] [stylize] [stylize_decoder] [appearance]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from analogist.data import example_path
from analogist.io import load_image, to_uint8

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def grid(rows: list[list[np.ndarray]], gap: int = 6) -> np.ndarray:
    """Tile uint8 pictures ``(h, w, 3)`` row by row on white."""
    h = max(im.shape[0] for row in rows for im in row)
    w = max(sum(im.shape[1] for im in row) + gap * (len(row) - 1) for row in rows)
    canvas = np.full((len(rows) * h + gap * (len(rows) - 1), w, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        x = 0
        for im in row:
            canvas[r * (h + gap) : r * (h + gap) + im.shape[0], x : x + im.shape[1]] = im
            x += im.shape[1] + gap
    return canvas


def save(name: str, picture: np.ndarray) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(OUT / name, quality=88, optimize=True)
    print(f"wrote {OUT / name} ({(OUT / name).stat().st_size // 1024} KB)")


def analogy() -> None:
    from analogist.methods.analogy import AnalogyParams, deep_image_analogy

    a = load_image(example_path("cat.jpg"), 224)
    bp = load_image(example_path("cat_painting.jpg"), 224)
    # seeded by EfficientNet-Lite0 at the coarsest level, as the README's caption says
    r = deep_image_analogy(a, bp, AnalogyParams(size=None, match_backbone="efficientnet-lite0"))
    save("analogy.jpg", grid([[to_uint8(a), to_uint8(r.a_prime)], [to_uint8(bp), to_uint8(r.b)]]))


def buddies() -> None:
    from analogist.apps.morph import morph
    from analogist.apps.pair_search import DEFORM_BACKBONE, deform_drivers
    from analogist.methods.buddies import BuddiesParams, draw_buddies, neural_best_buddies

    a = load_image(example_path("cat.jpg"), 256)
    b = load_image(example_path("cat_painting.jpg"), 256)
    r = neural_best_buddies(a, b, BuddiesParams(size=None, k=12))
    # the morph as `analogist morph --size 256` draws it
    drivers = deform_drivers(a, b, BuddiesParams(k=15, backbone=DEFORM_BACKBONE), 15)
    frames = morph(a, b, drivers.points, frames=5)
    morph_row = grid([[to_uint8(f) for f in frames[1:4]]])
    save("buddies.jpg", grid([[draw_buddies(a, b, r)], [morph_row]]))


def stylize(name: str = "fast", file: str = "stylize.jpg") -> None:
    from analogist.methods.nnst import preset
    from analogist.methods.nnst import stylize as run

    content = load_image(example_path("astronaut.jpg"), 256)
    style = load_image(example_path("swirls.jpg"), 256)
    out = run(content, style, preset(name))
    style_row = F.interpolate(style, size=content.shape[-2:], mode="bilinear", antialias=True)
    save(file, to_uint8(torch.cat([content, style_row, out], dim=3)))


def stylize_decoder() -> None:
    """NNST-D with the bundled decoder (``src/analogist/data/checkpoints/nnst-d.pt``)."""
    stylize("decoder", "stylize_decoder.jpg")


def appearance() -> None:
    from analogist.methods.coat import COATParams, coat_levels
    from analogist.methods.coat.pictures import draw_pairs, grid_points

    content = load_image(example_path("cat.jpg"), 224)
    style = load_image(example_path("cat_painting.jpg"), 224)
    params = COATParams()
    results = coat_levels(content, style, params, [0, 1, 2, 3])
    al = results[2].alignment
    pts = grid_points(al.confident["block3"], al.grid_1, al.grid_2, tuple(content.shape[-2:]), tuple(style.shape[-2:]))
    # top: content and style with the confident pairs of block3; bottom: the result at n = 0, 1, 2, 3
    top = draw_pairs(content, style, pts, max_lines=40)
    bottom = grid([[to_uint8(results[n].image) for n in (0, 1, 2, 3)]])
    save("appearance.jpg", grid([[top], [bottom]]))


if __name__ == "__main__":
    jobs = {
        "analogy": analogy,
        "buddies": buddies,
        "stylize": stylize,
        "stylize_decoder": stylize_decoder,
        "appearance": appearance,
    }
    for name in sys.argv[1:] or jobs:
        jobs[name]()
