"""Example-based video stylisation: NNST on a few keyframes, the rest propagated along the motion.

The input frames are spooled once to a temporary folder (8-bit, so memory stays at a few frames
whatever the clip's length; ``auto`` keyframes are chosen during that pass). Then the clip is
produced segment by segment between consecutive keyframes: the later keyframe's propagation is run
backwards through the segment and stored, the earlier one's forwards, and each frame blends the two
(:func:`analogist.apps.video.blend.blend`: per-pixel choice by accumulated error, gradient-domain composite). Frames before the first keyframe and after the last
have one propagation only. Output frames come out in order, one at a time.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InputError
from ...io import check_image, check_size, resize_longer, to_uint8
from ...matching.flow import flow_to_nnf
from ...methods.nnst import PRESETS, StylizeParams, stylize
from ...progress import Progress, silent
from ...synthesis.warp import sample
from . import propagate
from .blend import blend
from .flow import consistent, dis_flow, gray

log = logging.getLogger("analogist")

#: A keyframe stylizer: ``(content (1, 3, H, W), style (1, 3, Hs, Ws)) -> (1, 3, H, W)``.
Stylizer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class VideoParams(propagate.Settings):
    """Parameters of :func:`stylize_video`: those of the propagation (:class:`propagate.Settings`)
    and these.

    Attributes:
        keyframes: ``"auto"`` (a new keyframe wherever less than ``auto_coverage`` of a frame can be
            traced back to the previous keyframe, at least ``min_gap`` frames apart; the first frame
            is always one), a number ``N`` (N keyframes at the centres of N equal parts of the clip)
            or explicit frame indices (from 0).
        nnst: NNST parameters of the keyframes (default: the ``fast`` preset).
        size: longer side of the processed frames (``None`` keeps the input's size).
    """

    keyframes: str | int | Sequence[int] = "auto"
    nnst: StylizeParams = field(default_factory=lambda: PRESETS["fast"])
    size: int | None = None
    auto_coverage: float = 0.7
    min_gap: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_keyframes(self.keyframes)
        check_size(self.size)
        if not (0.0 < self.auto_coverage <= 1.0 and self.min_gap >= 1):
            raise InputError(
                f"auto_coverage must be in (0, 1] and min_gap at least 1 (got {self.auto_coverage}, {self.min_gap})"
            )


def parse_keyframes(spec: str | int | Sequence[int]) -> str | int | tuple[int, ...]:
    """``"auto"``, a count (``3``, ``"3"``) or indices (``"0,30,60"``, ``[0, 30]``), checked."""
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "auto":
            return "auto"
        try:
            parts = [int(p) for p in text.split(",") if p.strip() or "," not in text]
        except ValueError:
            raise InputError(f"keyframes must be auto, a count or frame numbers like 0,30,60, got {spec!r}") from None
        spec = parts[0] if "," not in text else parts  # "5": five keyframes; "5,": frame 5
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec < 1:
            raise InputError(f"the number of keyframes must be at least 1, got {spec} (frame 0 alone is written 0,)")
        return int(spec)
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(i, (int, np.integer)) for i in spec):
        if min(spec) < 0:
            raise InputError(f"keyframe numbers start at 0, got {min(spec)}")
        return tuple(sorted({int(i) for i in spec}))
    raise InputError(f"keyframes must be auto, a count or a list of frame numbers, got {spec!r}")


def choose_keyframes(spec: str | int | Sequence[int], count: int, auto: Sequence[int]) -> list[int]:
    """Keyframe indices for a clip of ``count`` frames; ``auto`` holds the spooling pass's choice."""
    spec = parse_keyframes(spec)
    if spec == "auto":
        return list(auto)
    if isinstance(spec, int):
        n = min(spec, count)
        return sorted({int((i + 0.5) * count / n) for i in range(n)})
    if spec[-1] >= count:
        raise InputError(f"keyframe {spec[-1]} is past the clip's last frame ({count - 1})")
    return list(spec)


class FrameStore:
    """Frames and stored renderings in a temporary folder, one ``.npy`` file each."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count, self.shape = folder, 0, (0, 0)

    def add(self, frame: torch.Tensor) -> torch.Tensor:
        """Store ``(1, 3, H, W)`` as 8 bits; returns the frame as it will be read back."""
        arr = to_uint8(frame)
        np.save(self.folder / f"f{self.count:06d}.npy", arr)
        self.count += 1
        return torch.from_numpy(arr.astype(np.float32) / 255.0).permute(2, 0, 1)[None]

    def frame(self, i: int) -> torch.Tensor:
        arr = np.load(self.folder / f"f{i:06d}.npy")
        return torch.from_numpy(arr.astype(np.float32) / 255.0).permute(2, 0, 1)[None]

    def put(self, i: int, rendering: propagate.Rendering) -> None:
        # error in float32: it is summed over many frames and compared between two propagations
        np.save(self.folder / f"r{i:06d}.npy", torch.cat(list(rendering), 1)[0].float().numpy())

    def get(self, i: int) -> propagate.Rendering:
        rows = torch.from_numpy(np.load(self.folder / f"r{i:06d}.npy"))[None]
        return propagate.Rendering(rows[:, :3], rows[:, 3:4], rows[:, 4:])


def _as_image(frame: object, i: int) -> torch.Tensor:
    if isinstance(frame, np.ndarray):
        arr = frame.astype(np.float32) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float32)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise InputError(f"frame {i} must be an (H, W, 3) RGB array, got {arr.shape}")
        frame = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
    return check_image(frame, f"frame {i}", min_side=16).detach().float().cpu().clamp(0, 1)


def spool(frames: Iterable[object], store: FrameStore, params: VideoParams, progress: Progress) -> list[int]:
    """Resize and store every frame; returns the ``auto`` keyframes (computed only when asked for)."""
    auto = parse_keyframes(params.keyframes) == "auto"
    keys: list[int] = [0]
    prev_gray, valid = None, None
    for i, frame in enumerate(progress(frames, desc="reading frames")):
        image = resize_longer(_as_image(frame, i), params.size)
        if store.count == 0:
            store.shape = tuple(image.shape[-2:])
        elif tuple(image.shape[-2:]) != store.shape:  # odd but valid: follow the first frame's size
            image = F.interpolate(image, size=store.shape, mode="bilinear", align_corners=False, antialias=True)
        image = store.add(image)
        if not auto:
            continue
        g = gray(image)
        if prev_gray is None:
            valid = torch.ones(store.shape, dtype=torch.bool)
        else:
            to_prev, to_new = dis_flow(g, prev_gray, params.flow), dis_flow(prev_gray, g, params.flow)
            traced = sample(valid[None, None].float(), flow_to_nnf(to_prev))[0, 0] > 0.5
            valid = consistent(to_prev, to_new) & traced
            if float(valid.float().mean()) < params.auto_coverage and i - keys[-1] >= params.min_gap:
                keys.append(i)
                valid = torch.ones_like(valid)
        prev_gray = g
    if store.count == 0:
        raise InputError("the video has no frames")
    return keys


def _keyframe(store: FrameStore, i: int, style: torch.Tensor, stylizer: Stylizer) -> propagate.Keyframe:
    content = store.frame(i)
    styled = stylizer(content, style)
    if tuple(styled.shape) != tuple(content.shape):
        raise InputError(f"the stylizer returned {tuple(styled.shape)} for a frame of {tuple(content.shape)}")
    return propagate.Keyframe(i, content, styled.detach().float().cpu().clamp(0, 1))


def _frames(
    store: FrameStore, keyframes: dict[int, propagate.Keyframe], s: propagate.Settings
) -> Iterator[torch.Tensor]:
    """Output frames in order from the stylised ``keyframes``; one propagation step in memory."""
    keys = sorted(keyframes)
    first = keyframes[keys[0]]
    track = propagate.start(first)
    for t in range(keys[0] - 1, -1, -1):  # before the first keyframe: its propagation alone
        track = propagate.advance(track, store.frame(t), s)
        store.put(t, propagate.render(track, s))
    for t in range(keys[0]):
        yield store.get(t).styled
    yield first.styled
    a = first
    for b_index in [*keys[1:], None]:
        b = keyframes[b_index] if b_index is not None else None
        end = b_index if b_index is not None else store.count
        if b is not None:
            track = propagate.start(b)
            for t in range(b_index - 1, a.index, -1):
                track = propagate.advance(track, store.frame(t), s)
                store.put(t, propagate.render(track, s))
        track = propagate.start(a)
        for t in range(a.index + 1, end):
            track = propagate.advance(track, store.frame(t), s)
            ours = propagate.render(track, s)
            yield ours.styled if b is None else blend(ours, store.get(t), (t - a.index) / (b_index - a.index), s)
        if b is not None:
            yield b.styled
            a = b


def stylize_video(
    frames: Iterable[object],
    style: torch.Tensor,
    params: VideoParams = VideoParams(),
    *,
    stylizer: Stylizer | None = None,
    progress: Progress = silent,
) -> Iterator[torch.Tensor]:
    """Stylise a clip through keyframes: NNST on the keyframes, propagation along the motion elsewhere.

    Args:
        frames: any iterable of frames, each ``(1, 3, H, W)`` float in [0, 1] or ``(H, W, 3)`` uint8;
            read once, lazily, as the first output frame is asked for. Frames are resized to
            ``params.size`` and to the first frame's size, and kept at 8 bits.
        style: ``(1, 3, Hs, Ws)`` style image in [0, 1].
        params: see :class:`VideoParams`.
        stylizer: keyframe stylizer ``(content, style) -> image``; default NNST with ``params.nnst``.
        progress: bars for reading, the keyframes' NNST and the output frames.

    Yields:
        one ``(1, 3, H, W)`` float32 frame in [0, 1] per input frame, in order. The keyframes are
        their stylisations exactly. A temporary folder holds the frames until the iterator is
        exhausted or closed.
    """
    check_image(style, "style", min_side=16)
    if stylizer is None:
        nnst = params.nnst

        def stylizer(content: torch.Tensor, style_image: torch.Tensor) -> torch.Tensor:
            return stylize(content, style_image, nnst, progress=progress)

    with tempfile.TemporaryDirectory(prefix="analogist-video-") as tmp:
        store = FrameStore(Path(tmp))
        auto = spool(frames, store, params, progress)
        keys = choose_keyframes(params.keyframes, store.count, auto)
        log.info("%d frames, keyframes %s", store.count, ", ".join(map(str, keys)))
        # the keyframes first, under a bar of their own: interleaved with the propagation they made the
        # frame bar's rate (and its time left) swing from minutes to milliseconds a frame
        keyframes = {k: _keyframe(store, k, style, stylizer) for k in progress(keys, desc="keyframes (NNST)")}
        outputs = _frames(store, keyframes, params)
        yield from progress(outputs, total=store.count, desc=f"video ({len(keys)} keyframes)")


__all__ = ["FrameStore", "Stylizer", "VideoParams", "choose_keyframes", "parse_keyframes", "spool", "stylize_video"]
