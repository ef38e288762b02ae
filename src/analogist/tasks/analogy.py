"""The task of Deep Image Analogy (``analogist analogy``), at a small default size so that a first click
on the page gives a result in seconds.
"""

from __future__ import annotations

from typing import Any

import torch

from ..matching.flow import flow_to_color
from ..progress import Progress
from ..training.device import on_cpu
from .confidence import ADVICE
from .registry import Option, Task, device_of, register


def _analogy(a: torch.Tensor, b: torch.Tensor, opts: dict[str, Any], plan: Any, progress: Progress) -> None:
    from ..methods.analogy import AnalogyParams, deep_image_analogy

    params = AnalogyParams(
        size=None,
        mode=opts["mode"],
        lbfgs_iters=opts["iters"],
        match_backbone="efficientnet-lite0" if opts["semantic"] else None,
    )
    dev = device_of(opts)
    r = on_cpu(deep_image_analogy(a.to(dev), b.to(dev), params, progress=progress))
    plan.save_image("a_prime.png", r.a_prime)
    plan.save_image("b.png", r.b)
    for name, flow in (("flow_ab", r.flow_ab), ("flow_ba", r.flow_ba)):
        plan.save_image(f"{name}.png", flow_to_color(flow))
        plan.write_flo(f"{name}.flo", flow)


register(
    Task(
        name="analogy",
        title="Deep Image Analogy",
        description="A' keeps the structure of A with the look of B'; B keeps the structure of B' with the look of A; "
        "both dense correspondences as flows (Liao et al. 2017).",
        inputs=("A (structure)", "B' (appearance)"),
        examples=("cat.jpg", "cat_painting.jpg"),
        outputs=lambda o: [
            ("a_prime.png", "main"),
            ("b.png", "image"),
            ("flow_ab.png", "image"),
            ("flow_ba.png", "image"),
            ("flow_ab.flo", "file"),
            ("flow_ba.flo", "file"),
        ],
        run=_analogy,
        compare="a_prime.png",
        advice=ADVICE,
        estimates=False,  # its five levels' shares of the time change several-fold with the size
        size=(128, 64, 448),
        options=(
            Option(
                "mode",
                "mode",
                "choice",
                "photo2style",
                choices=("photo2style", "style2style", "style2photo", "photo2photo"),
                help="photo2photo adds the WLS colour refinement",
            ),
            Option("iters", "L-BFGS iterations", "int", 10, 0, 50, help="per deconvolution (fewer: faster, rougher)"),
            Option(
                "semantic", "semantic coarse match", "bool", True, help="EfficientNet-Lite0 guides the coarsest match"
            ),
        ),
    )
)

# ------------------------------------------------------------------------------------------- buddies

#: The buddies search's progress weights per level, coarse to fine (each level about twice the last; a
#: small image skips the coarsest), summing to one.
