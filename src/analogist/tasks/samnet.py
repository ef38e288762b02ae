"""The task of SAM-Net (``analogist samnet``): dense matching through local affine fields while the
source takes the target's attributes.
"""

from __future__ import annotations

import resource
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..matching.flow import flow_to_color
from ..methods.samnet import SAMNetParams, SAMNetResult
from ..methods.samnet.pictures import affine_picture, iteration_strip, warp_labels
from ..outputs import OutputPlan
from ..training.device import on_cpu
from .registry import Option, Task, device_of, register

#: Files ``samnet`` always writes; ``mask.png`` joins them with ``--mask``.
OUTPUTS = (
    "flow.flo",
    "flow.png",
    "affine.png",
    "stylised.png",
    "warped.png",
    "confidence.png",
    "iterations.png",
    "report.json",
)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_outputs(
    plan: OutputPlan,
    source: torch.Tensor,
    target: torch.Tensor,
    result: SAMNetResult,
    params: SAMNetParams,
    extra: dict | None = None,
    mask: Image.Image | None = None,
) -> list[Path]:
    """Write every file of :data:`OUTPUTS` (and ``mask.png`` given a label image) through ``plan``."""
    paths = [
        plan.write_flo("flow.flo", result.flow),
        plan.save_image("flow.png", flow_to_color(result.flow)),
        plan.save_image("affine.png", affine_picture(target, result)),
        plan.save_image("stylised.png", result.stylised),
        plan.save_image("warped.png", result.warped),
        plan.save_image("confidence.png", result.confidence[..., None].expand(-1, -1, 3).numpy()),
        plan.save_image("iterations.png", iteration_strip(result, target)),
    ]
    if mask is not None:
        out = warp_labels(mask, result.flow)
        path = plan.path("mask.png")
        from ..io import atomic_path

        with atomic_path(path) as tmp:
            out.save(tmp, format="PNG")
        paths.append(path)
    report = {
        "method": "sam-net",
        "form": result.form,
        "params": asdict(params),
        "size_source": list(source.shape[-2:]),
        "size_target": list(target.shape[-2:]),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "peak_memory_mb": round(_peak_mb(), 1),
        "threads": torch.get_num_threads(),
        **(extra or {}),
    }
    paths.append(plan.write_json("report.json", report))
    return paths


_ROLES = {"stylised.png": "main", "flow.flo": "file", "report.json": "file"}


def _outputs(opts: dict[str, Any]) -> list[tuple[str, str]]:
    order = ["stylised.png"] + [n for n in OUTPUTS if n != "stylised.png"]
    return [(name, _ROLES.get(name, "image")) for name in order]


def _run(a, b, opts: dict[str, Any], plan: Any, progress) -> None:
    from ..methods.samnet import SAMNetParams, sam_net

    params = SAMNetParams(iters=opts["iters"], size=None, keep_iterations=True)
    dev = device_of(opts)
    result = on_cpu(sam_net(a.to(dev), b.to(dev), params, progress=progress))
    write_outputs(plan, a, b, result, params, {"form": result.form})


register(
    Task(
        name="samnet",
        title="SAM-Net",
        description="Semantic attribute matching (Kim et al. 2019): the source keeps its structure and takes the "
        "target's attributes while a dense field of local affine transforms matches the two.",
        inputs=("source (structure)", "target (attributes)"),
        examples=("cat.jpg", "cat_painting.jpg"),
        outputs=_outputs,
        run=_run,
        compare="stylised.png",
        size=(160, 64, 448),
        options=(
            Option(
                "iters",
                "recurrent iterations",
                "int",
                2,
                1,
                30,
                help="the paper uses 10 from the identity; 2 from the buddies' start measured best",
            ),
        ),
    )
)
