"""The task of Neural Neighbor Style Transfer (``analogist stylize``), with the NNST-D decoder preset where
a checkpoint is installed.
"""

from __future__ import annotations

from typing import Any

from .registry import Option, Task, device_of, register


def _decoder():
    """The NNST-D checkpoint, if one is installed (the decoder preset is offered only then)."""
    from ..methods.nnst import find_decoder

    return find_decoder()


def _stylize_params(opts: dict[str, Any]):
    from ..methods.nnst import preset_or_fast

    overrides: dict[str, Any] = {"alpha": opts["alpha"], "color": opts["color"], "seed": opts["seed"]}
    if opts["steps"]:
        overrides["steps"] = overrides["split_steps"] = opts["steps"]
    return preset_or_fast(opts["preset"], **overrides)


def _stylize(a, b, opts, plan, progress) -> None:
    from ..methods.nnst import stylize

    dev = device_of(opts)
    plan.save_image("stylized.png", stylize(a.to(dev), b.to(dev), _stylize_params(opts), progress=progress).cpu())


def _stylize_stages(size: int, opts: dict[str, Any]) -> list[float]:
    """A step costs about its scale's side to the power 1.5 (the pixels' share of the work grows with the
    size; fixed costs weigh at small scales), matching included; a splitting step as a full-size one.
    Fitted to runs at 128 and 512 px (``benchmarks/eta_traces.py``)."""
    p = _stylize_params(opts)
    if p.form == "learned":
        return [1.0]
    return [p.steps * 2.0 ** (-1.5 * (p.scales - 1 - i)) for i in range(p.scales)] + (
        [float(p.split_steps)] if p.split_steps else []
    )


register(
    Task(
        name="stylize",
        title="Neural Neighbor Style Transfer",
        description="The content image rendered in the style of the other (Kolkin et al. 2022).",
        inputs=("content", "style"),
        examples=("astronaut.jpg", "swirls.jpg"),
        run=_stylize,
        stages=_stylize_stages,
        outputs=lambda o: [("stylized.png", "main")],
        compare="stylized.png",
        size=(128, 64, 512),
        options=(
            Option(
                "preset",
                "preset",
                "choice",
                "fast",
                choices=("fast", "paper") + (("decoder",) if _decoder() else ()),
                help="paper: 200 steps per scale (slow); decoder: NNST-D, feed-forward (where a checkpoint is installed)",
            ),
            Option(
                "alpha", "stylisation (alpha)", "float", 0.25, 0.0, 1.0, help="weight of the previous output per scale"
            ),
            Option("color", "colour post-processing", "bool", True),
            Option("steps", "steps per scale", "int", 0, 0, 400, help="0: the preset's"),
            Option("seed", "seed", "int", 0, 0, 2**31 - 1),
        ),
    )
)
