"""The task of SAM-Net (``analogist samnet``): dense matching through local affine fields while the
source takes the target's attributes."""

from __future__ import annotations

from typing import Any

from ..training.device import on_cpu
from .registry import Option, Task, device_of, register

_ROLES = {"stylised.png": "main", "flow.flo": "file", "report.json": "file"}


def _outputs(opts: dict[str, Any]) -> list[tuple[str, str]]:
    from ..cli.samnet import OUTPUTS

    order = ["stylised.png"] + [n for n in OUTPUTS if n != "stylised.png"]
    return [(name, _ROLES.get(name, "image")) for name in order]


def _run(a, b, opts: dict[str, Any], plan: Any, progress) -> None:
    from ..cli.samnet import write_outputs
    from ..methods.samnet import SAMNetParams, sam_net

    params = SAMNetParams(iters=opts["iters"], size=None, keep_iterations=True)
    dev = device_of(opts)
    result = on_cpu(sam_net(a.to(dev), b.to(dev), params, progress=progress))
    write_outputs(plan, a, b, result, params, {"form": "training-free"})


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
