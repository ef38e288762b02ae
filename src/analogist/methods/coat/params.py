"""Parameters and results of COAT."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...errors import InputError
from ...features.hypercolumn import BACKBONES
from ...matching.mutual import Confident

#: Optimisation scales with a longer side of at least this many pixels take ``fine_steps`` Adam steps.
FINE_SIDE = 256


#: The scales of the hierarchy, coarse last: (name, index range into :data:`analogist.features.hypercolumn.LAYERS`).
SCALES = (("block1", 0, 2), ("block2", 2, 4), ("block3", 4, 7), ("block4", 7, 10))
#: Most structure scales (``n = 4``: every scale from the content, the output is the content).
MAX_LEVEL = len(SCALES)


#: ``"training-free"``: synthesis by optimisation; ``"learned"``: the trained matcher and decoder.
FORMS = ("training-free", "learned")


@dataclass(frozen=True)
class COATParams:
    """Parameters of COAT, both forms (``form``); defaults measured where the paper gives none.

    Why each default, with its figures: ``docs/coat.md``.

    Attributes:
        texture_level: ``n``, how many of the coarsest scales keep the content's features (0 moves the most texture).
        threshold: ``t`` of the confident set ``Q >= t`` (1: mutual nearest neighbours only, the paper).
        context: features each scale is matched on: ``"pyramid"`` (its own and every coarser scale's) or ``"own"``.
        match_dims: principal components kept per scale for matching.
        scales: coarse-to-fine optimisation scales (each half the next).
        steps: Adam steps per optimisation scale.
        lr: Adam step size.
        levels: Laplacian pyramid levels of the output.
        zero_levels: how many of the finest levels start at zero (the rest as the content's).
        backbone: one of :data:`~analogist.features.hypercolumn.BACKBONES`.
        weights: explicit weight file of the backbone, or ``None`` (looked up).
        precision: ``"auto"`` (measured per machine, :mod:`analogist.features.precision`), ``"fp32"`` or ``"bf16"``.
        chunk: rows of ``S`` per matrix product.
        fine_steps: Adam steps at the finest scale and at every scale of at least :data:`FINE_SIDE` px.
        max_cells: most cells matched at once (larger grids are matched on average-pooled cells).
        color: the part-by-part colour step after the synthesis.
        color_sigma: its window in cells of the matched grid (of at most ``max_cells`` cells).
        color_luminance: how far the local mean lightness moves (0 keeps the content's shading).
        learned_side: the learned form's networks run on the images scaled to at most this longer side.
        color_confine: with the part fill, the colour fades out where the fill's weights are below this.
        fill: how far texture positions outside the confident set move to their part's style feature.
        fill_radius: cells around SAM-Net's match searched for the part's best style feature.
        fill_support: density of agreeing confident pairs at which a part moves fully.
        texture_bands: finest Laplacian bands optimised, ``texture_bands + MAX_LEVEL - n`` (``None``: all).
        equal_scales: every hierarchy scale's cosine distance weighs the same in the synthesis.
        form: ``"training-free"`` (synthesis by optimisation) or ``"learned"`` (the trained networks).
        checkpoint: the learned form's checkpoint (``None``: looked up like every weight file).
    """

    texture_level: int = 2
    threshold: float = 1.0
    context: str = "pyramid"
    match_dims: int = 64
    scales: int = 3
    steps: int = 30
    lr: float = 4e-3
    levels: int = 8
    zero_levels: int = 2
    backbone: str = "vgg16-hed"
    weights: str | None = None
    precision: str = "auto"
    chunk: int = 256
    fine_steps: int | None = 10
    max_cells: int = 4096
    color: bool = True
    color_sigma: float = 3.0
    color_luminance: float = 0.0
    learned_side: int = 192
    color_confine: float | None = 0.2
    fill: float = 1.0
    fill_radius: int = 3
    fill_support: float = 0.15
    texture_bands: int | None = 2
    equal_scales: bool = True
    form: str = "training-free"
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.texture_level <= MAX_LEVEL, f"texture level must be 0..{MAX_LEVEL}"),
            (0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]"),
            (self.context in ("pyramid", "own"), "context must be pyramid or own"),
            (self.match_dims >= 1 and self.chunk >= 1, "match_dims and chunk must be positive"),
            (1 <= self.scales <= 6 and self.levels >= self.scales, "scales must be 1..6 and at most levels"),
            (0 <= self.zero_levels < self.levels, "zero_levels must be below levels"),
            (self.steps >= 0 and self.lr > 0, "steps must not be negative and lr must be positive"),
            (
                self.fine_steps is None or self.fine_steps >= 0,
                "fine_steps must not be negative",
            ),
            (self.max_cells >= 1 and self.learned_side >= 16, "max_cells must be positive, learned_side 16 or more"),
            (
                0 <= self.fill <= 1 and self.fill_radius >= 0 and self.fill_support > 0,
                "fill must be 0..1, fill_radius not negative and fill_support positive",
            ),
            (
                self.texture_bands is None or self.texture_bands >= max(1, self.zero_levels - 1),
                "texture_bands must be 1 or more and at least zero_levels - 1 (bands that start at zero are optimised)",
            ),
            (
                self.color_sigma > 0
                and 0 <= self.color_luminance <= 1
                and (self.color_confine is None or self.color_confine > 0),
                "color_sigma and color_confine must be positive, color_luminance 0..1",
            ),
            (self.form in FORMS, f"form must be one of {', '.join(FORMS)}"),
            (self.backbone in BACKBONES, f"backbone must be one of {', '.join(BACKBONES)}"),
            (self.precision in ("auto", "fp32", "bf16"), "precision must be auto, fp32 or bf16"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"{message} (got {self})")


@dataclass
class Alignment:
    """The latent alignment of one image scale: per hierarchy scale its confident set and grid."""

    confident: dict[str, Confident]
    grid_1: tuple[int, int]
    grid_2: tuple[int, int]
    aligned: torch.Tensor | None  #: ``(1, 2688, h1, w1)`` the content hypercolumn with swapped scales (free form)

    def pairs(self) -> dict[str, int]:
        return {name: c.pairs for name, c in self.confident.items()}


@dataclass
class COATResult:
    """``image`` ``(1, 3, H, W)`` in [0, 1]; ``alignment`` at the finest scale; ``timings`` in s."""

    image: torch.Tensor
    alignment: Alignment
    timings: dict[str, float] = field(default_factory=dict)
