"""Regenerate the README's SAM-Net picture (docs/images/samnet.jpg) from the bundled examples.

    python tools/make_samnet_image.py

Top: source, target, the source with the target's attributes (stylised), the target warped onto the
source; bottom: the affine field's lattice over the target, the flow, the confidence, iteration 1 vs 10.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_readme_images import grid, save

from analogist.data import example_path
from analogist.io import load_image, to_uint8
from analogist.matching.flow import flow_to_color
from analogist.methods.samnet import SAMNetParams, sam_net
from analogist.methods.samnet.pictures import affine_picture
from analogist.synthesis.warp import backward_warp


def main() -> None:
    source = load_image(example_path("cat.jpg"), 224)
    target = load_image(example_path("cat_painting.jpg"), 224)
    res = sam_net(source, target, SAMNetParams(size=None, keep_iterations=True))
    conf = (res.confidence.numpy()[..., None].repeat(3, -1) * 255).astype(np.uint8)
    first = to_uint8(backward_warp(target, res.iterations[0].flow))
    save(
        "samnet.jpg",
        grid(
            [
                [to_uint8(source), to_uint8(target), to_uint8(res.stylised), to_uint8(res.warped)],
                [affine_picture(target, res), flow_to_color(res.flow), conf, first],
            ]
        ),
    )


if __name__ == "__main__":
    main()
