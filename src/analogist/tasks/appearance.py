"""The task of COAT (``analogist appearance``): an object's part-by-part appearance from another, with the
texture level as the page's control.
"""

from __future__ import annotations

import resource
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from ..methods.coat import SCALES, COATParams, COATResult
from ..methods.coat.pictures import contact_sheet, draw_pairs, grid_points
from ..outputs import OutputPlan
from ..training.device import on_cpu
from .registry import Option, Task, device_of, register


def outputs(sheet: bool) -> list[str]:
    """Files ``appearance`` writes into its output folder."""
    names = ["result.png", "report.json"] + [f"pairs_{name}.png" for name, _, _ in SCALES]
    return names + (["sheet.png"] if sheet else [])


def write_outputs(
    plan: OutputPlan,
    content: torch.Tensor,
    style: torch.Tensor,
    results: dict[int, COATResult],
    params: COATParams,
    levels: list[int],
    extra: dict,
) -> list[Path]:
    main = results[params.texture_level]
    al = main.alignment
    paths = [plan.save_image("result.png", main.image)]
    for name, _, _ in SCALES:
        pts = grid_points(al.confident[name], al.grid_1, al.grid_2, tuple(content.shape[-2:]), tuple(style.shape[-2:]))
        paths.append(plan.save_image(f"pairs_{name}.png", draw_pairs(content, style, pts)))
    if levels:
        paths.append(
            plan.save_image("sheet.png", contact_sheet([[content, style] + [results[n].image for n in levels]]))
        )
    positions = al.grid_1[0] * al.grid_1[1]
    report = {
        "method": "coat",
        "params": asdict(params),
        "size_content": list(content.shape[-2:]),
        "size_style": list(style.shape[-2:]),
        "grid": list(al.grid_1),
        "pairs_per_scale": al.pairs(),
        "swapped_share": {k: round(c.mask.float().mean().item(), 4) for k, c in al.confident.items()},
        "positions": positions,
        "sheet_levels": levels,
        "timings_s": {k: round(v, 3) for k, v in main.timings.items()},
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "threads": torch.get_num_threads(),
        **extra,
    }
    paths.append(plan.write_json("report.json", report))
    return paths


def _outputs(opts: dict[str, Any]) -> list[tuple[str, str]]:
    roles = {"result.png": "main", "report.json": "file"}
    return [(name, roles.get(name, "image")) for name in outputs(sheet=False)]


def _run(a, b, opts: dict[str, Any], plan: Any, progress) -> None:
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
    write_outputs(plan, a, b, results, params, [], {"form": params.form})


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
