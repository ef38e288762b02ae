"""The tasks of Neural Best-Buddies and its applications (align, hybrid, morph), and the files each writes
(shared with their commands).
"""

from __future__ import annotations

import csv
import io as _io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..matching.flow import flow_to_color
from ..matching.mls import KINDS
from ..methods.buddies import BuddiesParams, BuddiesResult, draw_buddies
from ..outputs import OutputPlan
from ..progress import Progress
from ..training.device import on_cpu
from .confidence import ADVICE, buddies_note, drivers_note, note
from .registry import Option, Task, device_of, register


def points_csv(points: torch.Tensor, ranks: torch.Tensor) -> str:
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["xa", "ya", "xb", "yb", "rank"])
    for (xa, ya, xb, yb), r in zip(points.tolist(), ranks.tolist()):
        w.writerow([f"{xa:.2f}", f"{ya:.2f}", f"{xb:.2f}", f"{yb:.2f}", f"{r:.4f}"])
    return buf.getvalue()


BUDDIES_OUTPUTS = ("points.csv", "all_points.csv", "points.json", "buddies.png")
ALIGN_OUTPUTS = ("aligned_a.png", "aligned_b.png", "blend.png", "flow.flo", "flow.png", "points.csv")
HYBRID_OUTPUTS = ("hybrid.png", "mask.png", "aligned_a.png", "aligned_b.png")


MORPH_SET = ("frames/frame_*.png", "morph.gif", "morph.mp4")


def morph_outputs(frames: int, mp4: bool = True, folder: str = "") -> list[str]:
    """Files ``morph`` writes: ``frames/frame_000.png`` ..., ``morph.gif`` and, unless not wanted, ``morph.mp4``."""
    names = [f"{folder}frames/frame_{i:03d}.png" for i in range(frames)] + [f"{folder}morph.gif"]
    return names + [f"{folder}morph.mp4"] if mp4 else names


def write_buddies(
    plan: OutputPlan, a: torch.Tensor, b: torch.Tensor, result: BuddiesResult, args_info: dict, *, circles: bool = True
) -> list[Path]:
    """points.csv (spread top k), all_points.csv (every pair by rank), points.json, buddies.png."""
    order = torch.argsort(result.ranks, descending=True)
    top = result.top_k
    data = {
        **args_info,
        "size_a": list(a.shape[-2:][::-1]),
        "size_b": list(b.shape[-2:][::-1]),
        "pairs": int(result.points.shape[0]),
        "levels": [
            {
                "layer": lv.layer,
                "stride": lv.stride,
                "patch": lv.patch,
                "regions": len(lv.regions),
                "found": lv.found,
                "kept": int(lv.points.shape[0]),
            }
            for lv in result.levels
        ],
        "top_k": [
            {"xa": p[0], "ya": p[1], "xb": p[2], "yb": p[3], "rank": r}
            for p, r in zip(result.points[top].tolist(), result.ranks[top].tolist())
        ],
    }
    return [
        plan.save_text("points.csv", points_csv(result.points[top], result.ranks[top])),
        plan.save_text("all_points.csv", points_csv(result.points[order], result.ranks[order])),
        plan.write_json("points.json", data),
        plan.save_image("buddies.png", draw_buddies(a, b, result, circles=circles)),
    ]


def write_alignment(plan: OutputPlan, a: torch.Tensor, b: torch.Tensor, points: torch.Tensor, kind: str) -> list[Path]:
    """Both images aligned onto the driving ``points`` ``(N, 4)`` (aligned_a/b.png, black beyond their
    frames), their blend, and the dense flow A -> B (flow.flo, flow.png)."""
    from ..apps.align import align, buddies_flow

    al = align(a, b, points, kind)
    aligned_a, aligned_b = al.framed()
    flow = buddies_flow(points, tuple(a.shape[-2:]), tuple(b.shape[-2:]), kind, frame=True, step=2)
    return [
        plan.save_image("blend.png", al.blend()),
        plan.save_image("aligned_a.png", aligned_a),
        plan.save_image("aligned_b.png", aligned_b),
        plan.save_image("flow.png", flow_to_color(flow)),
        plan.write_flo("flow.flo", flow),
    ]


def write_morph(
    plan: OutputPlan, seq: Sequence[torch.Tensor], fps: float, *, mp4: bool = True, folder: str = ""
) -> list[Path]:
    """The frames, the GIF and (if ``mp4``) the MP4 of a morph sequence, under ``folder`` of the plan."""
    written = [plan.save_image(f"{folder}frames/frame_{i:03d}.png", f) for i, f in enumerate(seq)]
    written.append(plan.save_animation(f"{folder}morph.gif", seq, fps))
    if mp4:
        written.append(plan.save_animation(f"{folder}morph.mp4", seq, fps))
    return written


_HINT = "a larger size or a lower activation threshold"
_SEARCH = [0.04, 0.08, 0.16, 0.32, 0.40]
#: align's and morph's three EfficientNet-Lite0 searches (224 px whatever the job's size) and the choice
#: among them (fitting each search's pairs), in seconds at one thread (``benchmarks/eta_traces.py``:
#: 0.35 s and 1.7 s; VGG's one search took 5 s)
_DEFORM_SEARCH = [[0.17 * w for w in _SEARCH], [0.09], [0.09], [0.97, 0.35, 0.38]]


def _per_frame(size: int) -> float:
    """Seconds of a morph frame, its warp and its share of the GIF, MP4 and PNGs (0.13 s at 448 px)."""
    return 0.13 * (size / 448) ** 2


_SPARSE = (Option("gamma", "activation threshold", "float", 0.05, 0.0, 0.99, help="Eq. 8; lower keeps more pairs"),)
_DEFORM = (
    Option("k", "driving pairs", "int", 15, 3, 100, help="consistent, spread pairs that drive the warp"),
    Option("kind", "warp", "choice", "affine", choices=tuple(KINDS), help="moving-least-squares variant"),
)


def _search(a: torch.Tensor, b: torch.Tensor, opts: dict[str, Any], plan: Any, progress: Progress, k: int):
    """The buddies search shared by all four tasks; draws the pairs into ``buddies.png``."""
    from ..apps.pair_search import none_found
    from ..methods.buddies import neural_best_buddies

    size = max(a.shape[-2:] + b.shape[-2:])
    params = BuddiesParams(k=k, size=size, gamma=opts["gamma"])
    dev = device_of(opts)  # the search on the device; the apps that follow warp the CPU images
    result = on_cpu(neural_best_buddies(a.to(dev), b.to(dev), params, progress=progress))
    none_found(int(result.points.shape[0]), _HINT)
    plan.save_image("buddies.png", draw_buddies(a, b, result))
    note(progress, buddies_note(int(result.points.shape[0])))
    return result


def _drivers(a, b, opts, plan, progress):
    from ..apps.pair_fit import select_pairs, spread_agreement
    from ..apps.pair_search import too_few_drivers

    result = _search(a, b, opts, plan, progress, opts["k"])
    idx = select_pairs(result.points, result.ranks, opts["k"])
    agree = spread_agreement(result.points, result.ranks, opts["k"])
    note(progress, buddies_note(int(result.points.shape[0]), agree, opts["k"]))
    too_few_drivers(idx.numel(), _HINT)
    return result.points[idx]


def deform_params(opts: dict[str, Any]) -> BuddiesParams:
    """The search of align and morph as ``analogist align`` / ``morph`` run it at their defaults: the
    web has no backbone or search-size option, so EfficientNet-Lite0 at the command's 224 px search size
    (at the job's size, a 448-px job spent 20 s fitting the tens of thousands of pairs found)."""
    from ..apps.pair_search import DEFORM_BACKBONE

    return BuddiesParams(k=opts["k"], gamma=opts["gamma"], backbone=DEFORM_BACKBONE)


def _deform_drivers(
    a: torch.Tensor, b: torch.Tensor, opts: dict[str, Any], plan: OutputPlan, progress: Progress
) -> torch.Tensor:
    """Align's and morph's driving pairs ``(M, 4)``, by the command's own path."""
    from ..apps.pair_search import deform_drivers

    d = deform_drivers(a, b, deform_params(opts), opts["k"], device=device_of(opts), progress=progress, hint=_HINT)
    shown = BuddiesResult(d.points, d.ranks, torch.arange(d.points.shape[0]))  # the pairs that drive the warp
    plan.save_image("buddies.png", draw_buddies(a, b, shown, circles=False))
    note(progress, drivers_note(d))
    return d.points


def _buddies(a, b, opts, plan, progress) -> None:
    result = _search(a, b, opts, plan, progress, opts["k"])
    top = result.top_k
    plan.save_text("points.csv", points_csv(result.points[top], result.ranks[top]))


def _align(a, b, opts, plan, progress) -> None:
    write_alignment(plan, a, b, _deform_drivers(a, b, opts, plan, progress), opts["kind"])


def _hybrid(a, b, opts, plan, progress) -> None:
    from ..apps.hybrid import HybridParams, hybrid

    pts = _drivers(a, b, opts, plan, progress)
    hy = hybrid(a, b, pts, HybridParams(iters=opts["iters"], kind=opts["kind"]), progress=progress)
    plan.save_image("hybrid.png", hy.image)
    plan.save_image("mask.png", hy.mask.expand(-1, 3, -1, -1))


def _has_mp4() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def _morph(a, b, opts, plan, progress) -> None:
    from ..apps.morph import morph

    pts = _deform_drivers(a, b, opts, plan, progress)
    seq = morph(a, b, pts, opts["frames"], opts["kind"], progress=progress)
    plan.save_animation("morph.gif", seq, fps=opts["fps"])
    if _has_mp4():
        plan.save_animation("morph.mp4", seq, fps=opts["fps"])


_PAIR = ("A", "B")
_CATS = ("cat.jpg", "cat_painting.jpg")
register(
    Task(
        name="buddies",
        title="Neural Best-Buddies",
        description="Sparse cross-domain correspondences: mutual nearest neighbours of deep features, coarse to fine "
        "(Aberman et al. 2018).",
        inputs=_PAIR,
        examples=_CATS,
        run=_buddies,
        stages=lambda s, o: [_SEARCH],
        outputs=lambda o: [("buddies.png", "main"), ("points.csv", "file")],
        options=(Option("k", "pairs shown", "int", 10, 1, 200),) + _SPARSE,
    )
)
register(
    Task(
        name="align",
        title="Align (best buddies)",
        description="Both images warped onto the midpoints of their best buddies by moving least squares.",
        inputs=_PAIR,
        examples=_CATS,
        run=_align,
        advice=ADVICE,
        stages=lambda s, o: [*_DEFORM_SEARCH, 4 * _per_frame(s)],  # the warps and flow: about four frames
        outputs=lambda o: [
            ("blend.png", "main"),
            ("buddies.png", "image"),
            ("aligned_a.png", "image"),
            ("aligned_b.png", "image"),
            ("flow.png", "image"),
            ("flow.flo", "file"),
        ],
        options=_DEFORM + _SPARSE,
    )
)
register(
    Task(
        name="hybrid",
        title="Semantic hybrid",
        description="Per region, the image with the stronger activation, refined level by level by feature inversion.",
        inputs=_PAIR,
        examples=_CATS,
        run=_hybrid,
        advice=ADVICE,
        stages=lambda s, o: [_SEARCH, 2.0 + 0.3 * o["iters"]],
        outputs=lambda o: [("hybrid.png", "main"), ("mask.png", "image"), ("buddies.png", "image")],
        options=_DEFORM + _SPARSE + (Option("iters", "L-BFGS iterations", "int", 5, 0, 50),),
    )
)
register(
    Task(
        name="morph",
        title="Morph",
        description="An automatic morph sequence driven by the best buddies.",
        inputs=_PAIR,
        examples=_CATS,
        run=_morph,
        advice=ADVICE,
        stages=lambda s, o: [*_DEFORM_SEARCH, _per_frame(s) * o["frames"]],
        outputs=lambda o: (
            [("morph.gif", "main")] + ([("morph.mp4", "video")] if _has_mp4() else []) + [("buddies.png", "image")]
        ),
        options=_DEFORM
        + _SPARSE
        + (Option("frames", "frames", "int", 12, 2, 60), Option("fps", "frames per second", "float", 8.0, 1, 30)),
    )
)
