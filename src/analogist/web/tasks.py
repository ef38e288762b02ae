"""What the web app can run: one function per method, from two image files to written results."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..io import load_image, save_image
from ..matching.flow import flow_to_color
from ..progress import Progress

#: ``task(path_a, path_b, size, outdir, progress) -> written files``
Task = Callable[[Path, Path, int, Path, Progress], list[Path]]


def run_analogy(path_a: Path, path_b: Path, size: int, outdir: Path, progress: Progress) -> list[Path]:
    from ..methods.analogy import AnalogyParams, deep_image_analogy

    a, b = load_image(path_a, size), load_image(path_b, size)
    r = deep_image_analogy(a, b, AnalogyParams(size=None), progress=progress)
    return [save_image(outdir / "a_prime.png", r.a_prime), save_image(outdir / "b.png", r.b),
            save_image(outdir / "flow_ab.png", flow_to_color(r.flow_ab)),
            save_image(outdir / "flow_ba.png", flow_to_color(r.flow_ba))]


def run_buddies(path_a: Path, path_b: Path, size: int, outdir: Path, progress: Progress) -> list[Path]:
    from ..methods.buddies import BuddiesParams, draw_buddies, neural_best_buddies

    a, b = load_image(path_a, size), load_image(path_b, size)
    r = neural_best_buddies(a, b, BuddiesParams(size=None), progress=progress)
    return [save_image(outdir / "buddies.png", draw_buddies(a, b, r))]


def run_stylize(path_a: Path, path_b: Path, size: int, outdir: Path, progress: Progress) -> list[Path]:
    from ..methods.stylize import preset, stylize

    content, style = load_image(path_a, size), load_image(path_b, size)
    out = stylize(content, style, preset("fast"), progress=progress)
    return [save_image(outdir / "stylized.png", out)]


#: name -> (task, label of the first image, label of the second image, description)
TASKS: dict[str, tuple[Task, str, str, str]] = {
    "analogy": (run_analogy, "A (content)", "B' (appearance)", "Deep Image Analogy: A' and B with both flows"),
    "buddies": (run_buddies, "A", "B", "Neural Best-Buddies: sparse cross-domain correspondences"),
    "stylize": (run_stylize, "content", "style", "Neural Neighbor Style Transfer (fast preset)"),
}
