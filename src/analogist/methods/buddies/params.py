"""Parameters and result of Neural Best-Buddies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch

if TYPE_CHECKING:
    pass


from ...matching import buddies as nbb


@dataclass(frozen=True)
class BuddiesParams:
    """Parameters of Neural Best-Buddies; the paper's values are the defaults.

    Level tables run from the coarsest level (``l = L``, the deepest layer) to the finest (``l = 1``).
    Why each default: ``docs/buddies.md``.

    Attributes:
        gamma: gamma of Eq. 8: the minimum normalised activation (Eq. 7) of both points of a pair.
        neighbourhood: neighbourhood (patch) side of Eq. 3 per level, coarsest first.
        radius: r of Eq. 9-10 per refined level, coarsest first.
        k: number of spread pairs returned in ``top_k`` (k-means clusters).
        backbone: feature extractor (the paper: VGG19 relu1_1 ... relu5_1, ``"vgg19"`` where its weights exist).
        weights: explicit weight file of the backbone, or ``None`` (looked up).
        layers: pyramid layers, shallow to deep (``None``: the backbone's default five).
        size: longer image side the search runs at (the paper's 224; ``None``: as given).
        common_appearance: ``"paper"`` (Eq. 4-6), ``"authors"`` (their code, by feature inversion) or ``"none"``.
        deconv_iters: L-BFGS iterations of each feature inversion of the ``"authors"`` common appearance.
        min_start_extent: the search starts at the coarsest level whose interior spans this many neighbourhoods.
        seed: seed of the k-means spreading.
    """

    gamma: float = 0.05
    neighbourhood: tuple[int, ...] = (3, 3, 5, 5, 5)
    radius: tuple[int, ...] = (6, 6, 4, 4)
    k: int = 10
    backbone: str = "vgg16-hed"
    weights: str | None = None
    layers: tuple[str, ...] | None = None
    size: int | None = 224
    common_appearance: Literal["paper", "authors", "none"] = "paper"
    deconv_iters: int = 10
    min_start_extent: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class BuddiesLevel:
    """The best buddies found at one pyramid level (all tensors on the CPU)."""

    layer: str
    #: pixels of the working image per map position
    stride: int
    #: neighbourhood side used at this level
    patch: int
    #: ``(M, 4)`` integer ``(ya, xa, yb, xb)`` map coordinates of the kept pairs
    points: torch.Tensor
    #: ``(M,)`` index into :attr:`regions` of the region pair each pair was found in
    region: torch.Tensor
    #: the searched region pairs of this level
    regions: nbb.RegionPairs
    #: ``(M,)`` index of each pair's parent at the coarser level (``-1`` at the coarsest)
    parent: torch.Tensor
    #: ``(M,)`` ``H_A(p) + H_B(q)`` (Eq. 7)
    activation: torch.Tensor
    #: pairs found before activation filtering (mutual, deduplicated)
    found: int


@dataclass(frozen=True)
class BuddiesResult:
    """Correspondences and the per-level record of how they were found."""

    #: ``(N, 4)`` float ``(xa, ya, xb, yb)`` pixel coordinates in the given images
    points: torch.Tensor
    #: ``(N,)`` accumulated normalised activation (Eq. 11); higher is more reliable
    ranks: torch.Tensor
    #: indices into :attr:`points` of the ``k`` spread pairs, best rank first
    top_k: torch.Tensor
    #: the searched levels, coarsest first (small images skip the coarsest: see
    #: :attr:`BuddiesParams.min_start_extent`)
    levels: list[BuddiesLevel] = field(default_factory=list)
    #: ``(sx, sy)`` of the given image per working-image pixel, for A and B
    scale_a: tuple[float, float] = (1.0, 1.0)
    scale_b: tuple[float, float] = (1.0, 1.0)

    def ancestors(self, level: int) -> torch.Tensor:
        """``(N,)`` index into ``levels[level].points`` of the ancestor of each final pair."""
        idx = torch.arange(self.points.shape[0], device=self.points.device)
        for lv in reversed(self.levels[level + 1 :]):
            idx = lv.parent[idx]
        return idx

    def level_points(self, level: int) -> torch.Tensor:
        """``(M, 4)`` float ``(xa, ya, xb, yb)`` of ``levels[level]`` in the given images (cell centres)."""
        lv = self.levels[level]
        return _to_image(lv.points, lv.stride, self.scale_a, self.scale_b)

    def receptive_radius(self, level: int) -> tuple[float, float]:
        """Radius in given-image pixels of the neighbourhood a level compares, in A and in B."""
        lv = self.levels[level]
        r = lv.stride * lv.patch / 2
        return r * (self.scale_a[0] + self.scale_a[1]) / 2, r * (self.scale_b[0] + self.scale_b[1]) / 2


def _to_image(
    points: torch.Tensor, stride: int, scale_a: tuple[float, float], scale_b: tuple[float, float]
) -> torch.Tensor:
    p = points.double()
    ya, xa, yb, xb = p.unbind(1)
    # cell centre in working pixels, then into the given image (pixel centres at integers)
    out = torch.stack(
        [
            (xa + 0.5) * stride * scale_a[0] - 0.5,
            (ya + 0.5) * stride * scale_a[1] - 0.5,
            (xb + 0.5) * stride * scale_b[0] - 0.5,
            (yb + 0.5) * stride * scale_b[1] - 0.5,
        ],
        dim=1,
    )
    return out.float()


COMMON_APPEARANCES = ("paper", "authors", "none")
