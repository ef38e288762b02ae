"""``analogist video``: stylise a clip through keyframes (NNST on keyframes, propagated along the motion)."""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

import torch

from ..apps.video import VideoParams, parse_keyframes, stylize_video
from ..apps.video.stream import FOLDER_FPS, Mp4Writer, open_video
from ..errors import InputError
from ..io import atomic_path, load_image
from ..methods.nnst import PRESETS, preset_or_fast, stylize
from ..outputs import OutputPlan
from .common import add_device, add_size, float_in, int_in

log = logging.getLogger("analogist")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="stylise a video through keyframes, without flicker (NNST + propagation)")
    p.add_argument("input", help="video file (.mp4, .mov, .webm, ...) or a folder of frame images")
    p.add_argument("style", help="style image (resized to the frames' longer side)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="output video (.mp4)")
    p.add_argument(
        "--keyframes",
        default="auto",
        metavar="auto|N|I,J,...",
        help="auto (where the content changes most), a number of evenly spread keyframes, "
        "or frame numbers from 0 like 0,30,60 (one frame: 12,) (default auto)",
    )
    p.add_argument(
        "--preset",
        default="fast",
        metavar="NAME",
        help=f"NNST preset of the keyframes: {', '.join(PRESETS)} (default fast)",
    )
    add_size(p, 512)
    add_device(p)
    p.add_argument("--frames-dir", default=None, metavar="DIR", help="also write every output frame as a PNG into DIR")
    p.add_argument(
        "--fps",
        type=float_in(0.1, 1000.0),
        default=None,
        help=f"frame rate of a folder of frames (default {FOLDER_FPS:g}); a video keeps its own",
    )
    p.add_argument(
        "--blend",
        choices=("poisson", "crossfade"),
        default="poisson",
        help="frames between two keyframes: per-pixel choice of the better propagation composited in the "
        "gradient domain (poisson, default) or their weighted average (crossfade)",
    )
    p.add_argument("--seed", type=int_in(0, 2**31 - 1), default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix.lower() != ".mp4":
        raise InputError(f"the output must be an .mp4 file, got {out.name}")
    params = VideoParams(
        keyframes=parse_keyframes(args.keyframes),
        nnst=preset_or_fast(args.preset, seed=args.seed),
        size=args.size,
        blend=args.blend,
    )
    source = open_video(args.input, args.fps)

    def keyframe(content: torch.Tensor, style_image: torch.Tensor) -> torch.Tensor:
        """NNST of one keyframe on the chosen device; the propagation stays on the CPU."""
        dev = args.device
        return stylize(content.to(dev), style_image.to(dev), params.nnst, progress=args.progress).cpu()

    style = load_image(args.style, args.size)
    count = source.count()
    inputs = [args.input, args.style]
    plan = OutputPlan.file(out, inputs)
    names = [f"frame_{i:05d}.png" for i in range(count)]
    frames_plan = OutputPlan.folder(args.frames_dir, names, inputs, ["frame_*.png"]) if args.frames_dir else None
    if source.has_audio:
        log.info("%s has an audio track: it is dropped, the output is video only", Path(args.input).name)
    with (
        plan,
        frames_plan or contextlib.nullcontext(),
        atomic_path(plan.path(None)) as tmp,
        Mp4Writer(tmp, source.fps) as writer,
        contextlib.closing(stylize_video(source, style, params, stylizer=keyframe, progress=args.progress)) as frames,
    ):
        for i, frame in enumerate(frames):
            if i >= count:
                raise InputError(f"{args.input} yielded more frames on a second reading than on the first")
            writer.write(frame)
            if frames_plan is not None:
                frames_plan.save_image(names[i], frame)
    log.info("wrote %d frames at %g frames per second to %s", writer.frames, source.fps, out)
    return 0
