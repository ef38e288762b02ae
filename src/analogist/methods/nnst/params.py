"""Parameters of Neural Neighbor Style Transfer (both forms) and its named presets."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...errors import InputError
from ...features.hypercolumn import BACKBONES

#: How NNST's VGG16 pads its convolutions (:class:`~analogist.features.hypercolumn.Extractor`): by
#: reflection, so hypercolumns along the frame look like those inside; VGG16's zeros drew a stripe
#: along every side of the outputs (docs/nnst.md, "Borders").
PADDING = "reflect"

#: ``"training-free"``: NNST-Opt, the optimisation; ``"learned"``: NNST-D, the trained decoder.
FORMS = ("training-free", "learned")


@dataclass(frozen=True)
class StylizeParams:
    """Parameters of both forms of NNST; defaults are the paper's ("paper" preset) where it gives one.

    Attributes:
        alpha: weight of the previous output (against the content) in the query of every scale after the first.
        scales: coarse-to-fine scales, each half the next (4: eighth, quarter, half, full).
        lr: Adam learning rate on the pyramid coefficients (training-free form).
        steps: Adam steps per scale (training-free form).
        split_steps: Adam steps of the final feature-splitting phase at full resolution (0 skips it).
        levels: Laplacian pyramid levels of the output parameterisation.
        zero_levels: finest content pyramid levels zeroed to start the output (authors: 3 below 1024 px).
        rotations: add the style turned by 90, 180 and 270 degrees as extra samples.
        turns: with ``rotations``, how many of the turns 0, 90, 180, 270 degrees (2: every orientation mod 180).
        color: colour post-processing of section 3.5 (skipped by itself for near-monochrome styles).
        w_cos: weight of the cosine term when guides are given (section 5).
        w_guide: weight of the guidance term when guides are given.
        seed: seeds every random choice (style subsampling, splitting-phase grid offsets).
        max_style_samples: style hypercolumns kept per scale (seeded random subset above it).
        split_queries: output positions matched per splitting-phase step (a strided grid above it).
        split_style_samples: style samples per layer in the splitting phase (seeded random subset).
        backbone: one of :data:`~analogist.features.hypercolumn.BACKBONES`.
        weights: explicit weight file of the backbone, or ``None`` (looked up).
        precision: ``"auto"`` (measured per machine, :mod:`analogist.features.precision`), ``"fp32"``, ``"bf16"`` or ``"int8"``.
        chunk: queries per matching product (memory about ``chunk`` times the style samples).
        color_radius: guided-filter radius in pixels at 512 px (scaled with the image).
        form: ``"training-free"`` (NNST-Opt, an optimisation) or ``"learned"`` (NNST-D, a trained decoder).
        checkpoint: the learned form's decoder checkpoint (``None``: looked up, :func:`~.learned.find_decoder`).
        feedback: learned form: final-scale passes that feed the output back as the content.
        detail_bands: learned form: finest Laplacian bands (0-2) taken from the matched style samples
            instead of the decoder (:mod:`.detail`).
    """

    alpha: float = 0.25
    scales: int = 4
    lr: float = 2e-3
    steps: int = 200
    split_steps: int = 200
    levels: int = 8
    zero_levels: int = 3
    rotations: bool = True
    turns: int = 4
    color: bool = True
    w_cos: float = 0.5
    w_guide: float = 0.5
    seed: int = 0
    max_style_samples: int = 32768
    split_queries: int = 2048
    split_style_samples: int = 4096
    backbone: str = "vgg16-hed"
    weights: str | None = None
    precision: str = "auto"
    chunk: int = 2048
    color_radius: int = 4
    form: str = "training-free"
    checkpoint: str | None = None
    feedback: int = 2
    detail_bands: int = 0

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.alpha <= 1.0, "alpha must be between 0 and 1"),
            (1 <= self.scales <= 6, "scales must be 1..6"),
            (self.levels >= self.scales, "levels must be at least scales"),
            (0 <= self.zero_levels < self.levels, "zero_levels must be below levels"),
            (self.lr > 0, "lr must be positive"),
            (self.steps >= 0 and self.split_steps >= 0, "steps must not be negative"),
            (self.w_cos >= 0 and self.w_guide >= 0, "w_cos and w_guide must not be negative"),
            (
                self.max_style_samples >= 1 and self.split_queries >= 1 and self.split_style_samples >= 1,
                "sample counts must be positive",
            ),
            (1 <= self.turns <= 4, "turns must be 1..4"),
            (self.backbone in BACKBONES, f"backbone must be one of {', '.join(BACKBONES)}"),
            (self.precision in ("auto", "fp32", "bf16", "int8"), "precision must be auto, fp32, bf16 or int8"),
            (self.form in FORMS and self.feedback >= 0, f"form must be one of {', '.join(FORMS)}, feedback >= 0"),
            (self.chunk >= 1 and self.color_radius >= 1, "chunk and color_radius must be positive"),
            (0 <= self.detail_bands <= 2, "detail_bands must be 0..2"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"{message} (got {self})")


#: Named settings. "fast" takes about an eighth of the paper's steps per scale (24 of 200; 10 splitting
#: steps) with a 2x larger Adam step and half the
#: style samples; the matching is the paper's. A 4x step (so coefficients could travel as far as in
#: the paper) washed sparse styles (pencil on white paper) out to white. See benchmarks/stylize.py
#: for time and quality side by side.
PRESETS: dict[str, StylizeParams] = {
    "paper": StylizeParams(),
    "fast": StylizeParams(steps=24, split_steps=10, lr=4e-3, max_style_samples=16384),
    # NNST-D: 4,096 style samples, and no feedback pass: with the bundled decoder it cost 6 CPU s at
    # 512 px and lowered both quality figures. Its products' precision is measured like every other
    # (int8 was 3x faster than fp32 on a VNNI CPU and 175x slower on one without). The two finest
    # bands come from the matched style samples and the query leans on the previous output (alpha
    # 0.75): chosen on the gallery's dev pairs for the style's texture (docs/nnst.md)
    "decoder": StylizeParams(form="learned", feedback=0, max_style_samples=4096, turns=2, detail_bands=2, alpha=0.75),
}


def preset(name: str, **overrides: object) -> StylizeParams:
    """A named preset of :data:`PRESETS` with some fields replaced."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)
