"""Tasks of Deep Image Analogy and Neural Best-Buddies (and align, hybrid, morph); NNST's is in :mod:`.stylize`.

Each runs the same library calls as its command, at a small default size so that a first click on
the page gives a result in seconds.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError
from ..matching.flow import flow_to_color
from ..matching.mls import KINDS
from ..progress import Progress
from ..training.device import on_cpu
from .confidence import ADVICE, buddies_note, note
from .registry import Option, Task, device_of, register

# ------------------------------------------------------------------------------------------- analogy


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
_SEARCH = [0.04, 0.08, 0.16, 0.32, 0.40]
_SPARSE = (Option("gamma", "activation threshold", "float", 0.05, 0.0, 0.99, help="Eq. 8; lower keeps more pairs"),)
_DEFORM = (
    Option("k", "driving pairs", "int", 15, 3, 100, help="consistent, spread pairs that drive the warp"),
    Option("kind", "warp", "choice", "affine", choices=tuple(KINDS), help="moving-least-squares variant"),
)


def _search(a: torch.Tensor, b: torch.Tensor, opts: dict[str, Any], plan: Any, progress: Progress, k: int):
    """The buddies search shared by all four tasks; draws the pairs into ``buddies.png``."""
    from ..methods.buddies import BuddiesParams, draw_buddies, neural_best_buddies

    size = max(a.shape[-2:] + b.shape[-2:])
    params = BuddiesParams(k=k, size=size, gamma=opts["gamma"])
    dev = device_of(opts)  # the search on the device; the apps that follow warp the CPU images
    result = on_cpu(neural_best_buddies(a.to(dev), b.to(dev), params, progress=progress))
    if result.points.shape[0] == 0:
        raise InputError(
            "no best buddies survived (the images share no strongly activated structure at this "
            "size): try a larger size or a lower activation threshold"
        )
    plan.save_image("buddies.png", draw_buddies(a, b, result))
    note(progress, buddies_note(int(result.points.shape[0])))
    return result


def _drivers(a, b, opts, plan, progress):
    from ..apps.align import select_pairs

    result = _search(a, b, opts, plan, progress, opts["k"])
    idx = select_pairs(result.points, result.ranks, opts["k"])
    note(progress, buddies_note(int(result.points.shape[0]), int(idx.numel()), opts["k"]))
    if idx.numel() < 3:
        raise InputError(
            f"only {idx.numel()} consistent best buddies were found: a warp needs 3; "
            "try a larger size or a lower activation threshold"
        )
    return result.points[idx]


def _buddies(a, b, opts, plan, progress) -> None:
    from ..cli.buddies import points_csv

    result = _search(a, b, opts, plan, progress, opts["k"])
    top = result.top_k
    plan.save_text("points.csv", points_csv(result.points[top], result.ranks[top]))


def _align(a, b, opts, plan, progress) -> None:
    from ..apps.align import align, buddies_flow

    pts = _drivers(a, b, opts, plan, progress)
    al = align(a, b, pts, opts["kind"])
    flow = buddies_flow(pts, tuple(a.shape[-2:]), tuple(b.shape[-2:]), opts["kind"], frame=True, step=2)
    plan.save_image("blend.png", (al.a + al.b) / 2)
    plan.save_image("aligned_a.png", al.a)
    plan.save_image("aligned_b.png", al.b)
    plan.save_image("flow.png", flow_to_color(flow))
    plan.write_flo("flow.flo", flow)


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

    pts = _drivers(a, b, opts, plan, progress)
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
        stages=lambda s, o: [_SEARCH, 0.3],
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
        stages=lambda s, o: [_SEARCH, 0.015 * o["frames"]],  # a frame's warp is cheap next to the search
        outputs=lambda o: (
            [("morph.gif", "main")] + ([("morph.mp4", "video")] if _has_mp4() else []) + [("buddies.png", "image")]
        ),
        options=_DEFORM
        + _SPARSE
        + (Option("frames", "frames", "int", 12, 2, 60), Option("fps", "frames per second", "float", 8.0, 1, 30)),
    )
)
