"""The task of COAT (``analogist appearance``): an object's part-by-part appearance from another, with the
texture level as the page's control."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..training.device import on_cpu
from .registry import Option, Task, device_of, register


def _outputs(opts: dict[str, Any]) -> list[tuple[str, str]]:
    from ..cli.appearance import outputs

    roles = {"result.png": "main", "report.json": "file"}
    return [(name, roles.get(name, "image")) for name in outputs(sheet=False)]


def _run(a, b, opts: dict[str, Any], plan: Any, progress) -> None:
    from ..cli.appearance import write_outputs
    from ..methods.coat import COATParams, coat_levels

    params = replace(
        COATParams(),
        texture_level=opts["texture_level"],
        threshold=opts["threshold"],
        fill=opts["fill"],
        steps=opts["steps"],
    )
    dev = device_of(opts)
    results = on_cpu(coat_levels(a.to(dev), b.to(dev), params, [params.texture_level], progress=progress))
    write_outputs(plan, a, b, results, params, [], {"form": "free"})


def _stages(size: int, opts: dict[str, Any]) -> list[float]:
    from ..methods.coat import COATParams

    scales = COATParams.scales
    return [4.0 ** -(scales - 1 - i) for i in range(scales)]  # each scale's pixels, same steps


def _register() -> None:
    from ..methods.coat import MAX_LEVEL, COATParams

    register(
        Task(
            name="appearance",
            title="Appearance transfer (COAT)",
            description="The content object takes the texture, colour and material of the style object part by part, "
            "through confident correspondences (Jeon et al. 2022). The texture level keeps that many "
            "coarse scales from the content: lower moves more texture.",
            inputs=("content", "style"),
            examples=("cat.jpg", "cat_painting.jpg"),
            outputs=_outputs,
            run=_run,
            stages=_stages,
            estimates=False,  # matching and synthesis shares change several-fold with size and load
            compare="result.png",
            size=(160, 64, 512),
            options=(
                Option(
                    "texture_level",
                    "texture level",
                    "int",
                    COATParams.texture_level,
                    0,
                    MAX_LEVEL,
                    help=f"0 moves the most texture, {MAX_LEVEL} returns the content",
                ),
                Option(
                    "threshold",
                    "confidence threshold",
                    "float",
                    1.0,
                    1e-6,
                    1.0,
                    help="1: mutual nearest neighbours only (the paper); lower swaps more positions",
                ),
                Option(
                    "fill",
                    "part fill",
                    "float",
                    COATParams.fill,
                    0.0,
                    1.0,
                    help="how far parts outside the confident pairs take the style's texture (0: the paper's swap alone)",
                ),
                Option("steps", "steps per scale", "int", COATParams.steps, 0, 400),
            ),
        )
    )


_register()
