"""Carrying a stylised keyframe along a video's motion (after Jamriska et al. 2019, "Stylizing Video
by Example", simplified to warping).

A propagation keeps, for every pixel of the current frame, where it came from in the keyframe
(``coords`` ``(2, H, W)``, absolute keyframe coordinates), and renders the frame by reading the
stylised keyframe there once. Composing coordinates rather than re-warping the previous output keeps
repeated bilinear resampling from blurring the style frame after frame. Pixels the forward-backward
flow test or a colour test rejects (disocclusions, flow failures, content entering the frame) are re-matched to the
keyframe's content by a patch search at low resolution (EbSynth's guided synthesis reduced to
its content guide and a coherence prior), so every output pixel is a keyframe pixel. Each rendering comes with a weight that
says how well the keyframe content at those coordinates matches the frame, and a per-pixel error accumulated along
the track (the colour mismatch of every frame since the keyframe, carried along the motion), by
which :mod:`.blend` picks the better of two propagations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt

from ...errors import InputError
from ...matching.flow import flow_to_nnf, identity_grid
from ...matching.nnf import upsample_nnf
from ...synthesis.filters import gaussian_blur
from ...synthesis.pyramid import resize
from ...synthesis.warp import sample
from .flow import DIS_PRESETS, consistent, dis_flow, gray


@dataclass(frozen=True)
class Keyframe:
    """A keyframe: its ``content`` and ``styled`` version, both ``(1, 3, H, W)`` in [0, 1]."""

    index: int
    content: torch.Tensor
    styled: torch.Tensor


@dataclass(frozen=True)
class Track:
    """One propagation's state at the current frame ``(1, 3, H, W)``: ``coords`` ``(2, H, W)`` into the keyframe."""

    key: Keyframe
    coords: torch.Tensor
    frame: torch.Tensor
    gray: np.ndarray
    #: ``(H, W)`` colour mismatch at this frame (:func:`_mismatch`)
    mismatch: torch.Tensor
    #: ``(H, W)`` mismatch summed along each pixel's track since the keyframe; re-matched pixels
    #: add ``photo_tol`` as well
    error: torch.Tensor
    #: share of this frame's pixels re-matched by the content search (0 on the keyframe)
    filled: float = 0.0


@dataclass(frozen=True)
class Settings:
    """How frames are tracked, re-matched and weighted.

    Attributes:
        flow: OpenCV DIS preset, ``ultrafast``, ``fast`` or ``medium``.
        fill_size, fill_patch, fill_prior: the content patch search that re-matches occluded pixels
            (working resolution's longer side, patch side, weight of its coherence prior; :func:`fill`).
        photo_tol: a pixel whose colour differs from the keyframe's where it is tracked to by more
            than this (mean absolute RGB difference after a 1-px blur) is re-matched as occluded.
        sigma: colour tolerance of a propagation's reliability (:func:`render`).
        blend: how a frame between two keyframes combines their propagations: ``poisson`` (per-pixel
            selection by accumulated error, gradient-domain composite; :func:`.blend.poisson`) or
            ``crossfade`` (weighted average; :func:`.blend.crossfade`).
        select_sigma: smoothing (px) of the error difference that selects the source.
        time_bias: error added per unit of temporal distance from a source's keyframe, so that
            where both are equally good the nearer keyframe wins.
        anchor: weight of the colour data term of the Poisson composite (towards the cross-fade).
    """

    flow: str = "medium"
    fill_size: int = 128
    fill_patch: int = 5
    fill_prior: float = 0.1
    photo_tol: float = 0.1
    sigma: float = 0.1
    blend: str = "poisson"
    select_sigma: float = 4.0
    time_bias: float = 0.05
    anchor: float = 0.01

    def __post_init__(self) -> None:
        ok = (
            self.flow in DIS_PRESETS
            and self.fill_size >= 16
            and self.fill_patch % 2 == 1
            and self.fill_prior >= 0
            and self.photo_tol > 0
            and self.sigma > 0
            and self.blend in ("poisson", "crossfade")
            and self.select_sigma >= 0
            and self.time_bias >= 0
            and self.anchor > 0
        )
        if not ok:
            raise InputError(
                f"invalid video propagation settings: flow one of {', '.join(DIS_PRESETS)}, "
                f"fill_size >= 16, odd fill_patch, fill_prior >= 0, photo_tol and sigma > 0, "
                f"blend poisson or crossfade, select_sigma and time_bias >= 0, anchor > 0"
            )


def start(key: Keyframe) -> Track:
    """The propagation at the keyframe itself: identity coordinates."""
    h, w = key.content.shape[-2:]
    zero = key.content.new_zeros((h, w))
    return Track(key, identity_grid(h, w), key.content, gray(key.content), zero, zero)


def advance(track: Track, frame: torch.Tensor, settings: Settings) -> Track:
    """Move ``track`` to the neighbouring ``frame`` ``(1, 3, H, W)`` (either direction in time)."""
    g = gray(frame)
    to_prev = dis_flow(g, track.gray, settings.flow)  # p in the new frame sits at p + f in the previous
    to_new = dis_flow(track.gray, g, settings.flow)
    coords = sample(track.coords[None], flow_to_nnf(to_prev))[0]
    # the flow must be confirmed by the reverse flow, and the keyframe must show there what the
    # frame shows: DIS smooths motion over flat regions, so an uncovered background can move along
    # with the object, and small errors would otherwise add up from frame to frame
    holes = ~consistent(to_prev, to_new) | (_mismatch(frame, track.key.content, coords) > settings.photo_tol)
    share = float(holes.float().mean())
    if share > 0:
        coords = fill(coords, holes, frame, track.key.content, settings)
    mismatch = _mismatch(frame, track.key.content, coords)
    carried = sample(track.error[None, None], flow_to_nnf(to_prev))[0, 0]
    error = carried + mismatch + settings.photo_tol * holes.to(mismatch.dtype)
    return Track(track.key, coords, frame, g, mismatch, error, share)


def extrapolate(coords: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """``coords`` ``(2, H, W)`` with each hole pixel ``p`` set to its nearest kept pixel ``q``'s
    coordinates plus ``p - q``: the neighbourhood's motion carried on into the hole."""
    _, (iy, ix) = distance_transform_edt(holes.numpy(), return_indices=True)
    iy, ix = torch.from_numpy(iy), torch.from_numpy(ix)
    h, w = holes.shape
    ys, xs = torch.arange(h)[:, None].expand(h, w), torch.arange(w)[None].expand(h, w)
    return torch.stack([coords[0][iy, ix] + (xs - ix), coords[1][iy, ix] + (ys - iy)])


def _descriptors(image: torch.Tensor, patch: int) -> torch.Tensor:
    """Rows ``(h*w, 3 patch^2 + 3)``: each pixel's patch divided by ``patch`` and its own colour, so
    that squared distances are the patch's mean squared difference plus the centre's."""
    rows = F.unfold(image, patch, padding=patch // 2)[0].T / patch
    return torch.cat([rows, image[0].flatten(1).T], 1)


def fill(
    coords: torch.Tensor, holes: torch.Tensor, frame: torch.Tensor, key_content: torch.Tensor, settings: Settings
) -> torch.Tensor:
    """Keyframe coordinates ``(2, H, W)`` for the ``holes`` (bool ``(H, W)``) of ``frame`` by a content search.

    At ``settings.fill_size`` px every cell holding a hole pixel takes the keyframe patch that
    minimises the mean squared colour difference over the patch, plus that of its centre (so a
    patch straddling an object's edge does not bring the object along), plus ``fill_prior`` times the squared distance
    (in image diagonals) from where the neighbourhood's motion would put it (:func:`extrapolate`):
    the content decides where it can, the prior keeps flat regions coherent. Hole pixels keep their
    cell's match plus their offset in the cell; other pixels keep ``coords``.
    """
    h, w = frame.shape[-2:]
    scale = min(1.0, settings.fill_size / max(h, w))
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    guess = extrapolate(coords, holes)
    p = settings.fill_patch
    qa, kb = (_descriptors(resize(x.float(), (sh, sw), antialias=True), p) for x in (frame, key_content))
    cells = F.interpolate(holes[None, None].float(), size=(sh, sw), mode="area")[0, 0].flatten() > 0
    rows = cells.nonzero()[:, 0]
    # the guess of a cell: its centre pixel's extrapolated coordinates, in cell units
    cy, cx = ((rows // sw).float() + 0.5) / scale - 0.5, ((rows % sw).float() + 0.5) / scale - 0.5
    g = guess[:, cy.round().long().clamp(0, h - 1), cx.round().long().clamp(0, w - 1)]
    gx, gy = (g[0] + 0.5) * scale - 0.5, (g[1] + 0.5) * scale - 0.5
    kx, ky = torch.arange(sw).repeat(sh).float(), torch.arange(sh).repeat_interleave(sw).float()
    diag2 = float(sh * sh + sw * sw)
    best = torch.empty(len(rows), dtype=torch.long)
    for s in range(0, len(rows), 1024):
        e = slice(s, s + 1024)
        cost = torch.cdist(qa[rows[e]], kb).pow(2)
        cost += settings.fill_prior * ((kx[None] - gx[e, None]).pow(2) + (ky[None] - gy[e, None]).pow(2)) / diag2
        best[e] = cost.argmin(1)
    nnf = torch.stack([torch.arange(sw).repeat(sh), torch.arange(sh).repeat_interleave(sw)])
    nnf[:, rows] = torch.stack([best % sw, best // sw])
    up = upsample_nnf(nnf.view(2, sh, sw), (sh, sw), (h, w), (h, w)).to(coords.dtype)
    return torch.where(holes, up, coords)


def _mismatch(frame: torch.Tensor, key_content: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Mean absolute RGB difference ``(H, W)`` between ``frame`` and the keyframe content read at
    ``coords``, both blurred by 1 px so that resampling does not count."""
    frame_b, key_b = gaussian_blur(frame.float(), 1.0), gaussian_blur(key_content.float(), 1.0)
    return (frame_b - sample(key_b, coords)).abs().mean(1)[0]


class Rendering(NamedTuple):
    """A propagation's version of one frame: ``styled`` ``(1, 3, H, W)``, ``weight`` (reliability,
    ``(1, 1, H, W)`` in (0, 1]) and ``error`` (accumulated along the track, ``(1, 1, H, W)``)."""

    styled: torch.Tensor
    weight: torch.Tensor
    error: torch.Tensor


def render(track: Track, settings: Settings) -> Rendering:
    """The frame in the keyframe's style, its reliability and its accumulated error.

    Reliability is ``exp(-(e / sigma)^2)`` of the colour mismatch ``e`` between the frame and the
    keyframe content at the tracked coordinates (:func:`_mismatch`): high where the keyframe really
    shows what the frame shows.
    """
    styled = sample(track.key.styled.float(), track.coords)
    weight = gaussian_blur(torch.exp(-((track.mismatch[None, None] / settings.sigma) ** 2)), 2.0)  # soft seams
    return Rendering(styled.clamp(0, 1), weight.clamp_min(1e-6), track.error[None, None].float())


__all__ = ["Keyframe", "Rendering", "Settings", "Track", "advance", "extrapolate", "fill", "render", "start"]
