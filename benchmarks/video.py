"""Benchmark of ``analogist video``: keyframe propagation against NNST on every frame.

    python benchmarks/video.py [--sizes 256,512] [--frames 8] [--frames-512 3] [--clips pan,RubberWhale]
        [--blends poisson,crossfade] [--fresh]
    python benchmarks/video.py --flow      # endpoint error of DIS and Farneback on Middlebury's ground truth
    python benchmarks/video.py --sizes 0 --memory 12,96   # the propagation alone at 256 and 512 px

Clips (made here, deterministic):

- ``pan``: the bundled astronaut under a camera that pans right by a third of the picture and zooms
  in by 30 % over the clip.
- a Middlebury "other" sequence (``../shared/data/middlebury-other/NAME``): its frame10 pushed along
  growing multiples of its ground-truth flow (0.25 of it per frame), i.e. the scene's real,
  non-rigid motion continued; the folders hold two frames only, so this is as close to a
  Middlebury clip as they allow.

For each clip and size, each method runs in a fresh process (so its peak memory, ``ru_maxrss``, is
its own) with the ``fast`` preset and the bundled swirls style:

- ``per-frame``: NNST on every frame independently;
- ``propagated``: ``stylize_video`` with the first and the last frame as keyframes, so that every
  other frame is a blend of two propagations (``poisson``: the paper's per-pixel selection and
  gradient-domain composite; ``crossfade``: the weighted average, for comparison).

NNST is deterministic (fixed seed), so the propagated runs take their keyframes' stylisations from
the per-frame run instead of computing them again, and their time adds the per-frame run's time
per frame once per keyframe. The per-frame results are kept in ``benchmarks/out/video/cache/``
(``--fresh`` recomputes them): one NNST at 512 px takes about 235 CPU s on one thread, so the
per-frame rows are most of the benchmark's cost (3 frames at 512 px: about 12 minutes on one idle core).

Printed per row: seconds per frame (wall; the keyframes' NNST included and spread over the clip),
CPU seconds per frame, peak memory, keyframes, the temporal warping error of Lai et al. 2018
(``analogist.apps.video.warping_error``: consecutive outputs compared after warping by the input's
DIS flow, over pixels the forward-backward test keeps; x 1000, lower is steadier; the input clip's
own figure is the floor), and the NNST style figures of ``benchmarks/stylize.py`` on the first,
middle and last frame (``style``: distance to the style's features, lower is more stylised;
``ssim``: content layout kept, higher is better), and ``detail``: the mean gradient magnitude of
the frames between the first and the last over that of those two (a cross-fade of two unaligned
textures is a washed-out double image: below 1; NNST on every frame: about 1). A last section runs the propagation alone (the
keyframe "stylizer" is the identity) on a short and a long clip, to show that memory does not grow
with the clip's length. Side-by-side MP4s (input | per-frame NNST | propagated, one per blending) and sheets of three
frames (rows: input, per-frame NNST, propagated) go to ``benchmarks/out/video/`` (gitignored). The machine is shared: the load average is printed, and CPU
seconds are less inflated by contention than wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIDDLEBURY = ROOT.parent / "shared" / "data" / "middlebury-other"
OUT = ROOT / "benchmarks" / "out" / "video"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def make_clip(name: str, size: int, n: int) -> list:  # type: ignore[type-arg]
    """``n`` frames ``(1, 3, H, W)`` of clip ``name`` with longer side ``size``."""
    import torch
    import torch.nn.functional as F

    from analogist.data import example_path
    from analogist.io import load_image, read_flo
    from analogist.matching.flow import flow_to_nnf, resize_flow
    from analogist.synthesis.warp import sample

    if name == "pan":
        image = load_image(example_path("astronaut.jpg"), 2 * size)
        h, w = round(0.75 * size), size
        frames = []
        for k in range(n):
            t = k / max(n - 1, 1)
            zoom = 1.0 + 0.3 * t
            # a window 60 % of the picture wide, moving right by a third of it, narrowing as it zooms
            theta = torch.tensor([[0.6 / zoom, 0.0, -0.2 + 0.4 * t], [0.0, 0.45 / zoom, 0.05]])[None]
            grid = F.affine_grid(theta, (1, 3, h, w), align_corners=False)
            frames.append(F.grid_sample(image, grid, mode="bilinear", align_corners=False).clamp(0, 1))
        return frames
    colour = MIDDLEBURY / "color-partial" / name / "frame10.png"  # some sequences have a colour copy
    first = load_image(colour if colour.is_file() else MIDDLEBURY / name / "frame10.png", size)
    flow = torch.from_numpy(read_flo(MIDDLEBURY / name / "flow10.flo"))
    flow = torch.where(flow.abs() < 1e9, flow, torch.zeros_like(flow))  # unknown vectors
    flow = resize_flow(flow, tuple(first.shape[-2:]))
    # frame k shows each pixel where 0.25 k of the flow has carried it (backward-warped approximation)
    return [sample(first, flow_to_nnf(-0.25 * k * flow)).clamp(0, 1) for k in range(n)]


def _style(size: int):  # type: ignore[no-untyped-def]
    from analogist.data import example_path
    from analogist.io import load_image

    return load_image(example_path("swirls.jpg"), size)


def one(clip: str, size: int, n: int, method: str, save: str, keys_from: str = "") -> dict[str, object]:
    """Run one method on one clip in this process; frames saved to ``save`` (.npy, uint8).

    ``propagated-BLEND`` reads its keyframes' stylisations from ``keys_from`` (the per-frame run's .npy)."""
    import numpy as np
    import torch

    from analogist.apps.video import VideoParams, stylize_video
    from analogist.io import to_uint8
    from analogist.methods.nnst import preset, stylize

    frames, style = make_clip(clip, size, n), _style(size)
    params = preset("fast")
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    keys = n
    if method == "per-frame":
        outs = [stylize(f, style, params) for f in frames]
    elif method.startswith("propagated"):
        styled = np.load(keys_from)
        lookup = {to_uint8(f).tobytes(): i for i, f in enumerate(frames)}

        def nnst(content: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            i = lookup[to_uint8(content).tobytes()]  # the frames travel as 8 bits, so they match exactly
            return torch.from_numpy(styled[i].astype(np.float32) / 255).permute(2, 0, 1)[None]

        blend = method.split("-", 1)[1]
        video = VideoParams(keyframes=[0, n - 1], blend=blend)
        outs = list(stylize_video(iter(frames), style, video, stylizer=nnst))
        keys = len(video.keyframes)
    else:  # "memory": the propagation alone
        outs = list(stylize_video(iter(frames), style, VideoParams(keyframes=[0]), stylizer=lambda c, s: c))
        keys = 1
    seconds = time.perf_counter() - start
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    np.save(save, np.stack([to_uint8(o) for o in outs]))
    return {
        "seconds": seconds,
        "cpu_s": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
        "peak_mb": r1.ru_maxrss / 1024,
        "keyframes": keys,
    }


def _run(clip: str, size: int, n: int, method: str, tmp: Path, keys_from: Path | None = None) -> tuple[dict, list]:  # type: ignore[type-arg]
    import numpy as np
    import torch

    save = tmp / f"{clip}-{size}-{n}-{method}.npy"
    if save.is_file() and save.with_suffix(".json").is_file():  # a cached per-frame run
        figures = json.loads(save.with_suffix(".json").read_text())
    else:
        res = subprocess.run(
            [sys.executable, __file__, "--one", clip, str(size), str(n), method, str(save), str(keys_from or "")],
            check=False,
            capture_output=True,
            text=True,
        )
        if res.returncode:
            raise RuntimeError(f"{clip} {size} {method} failed: {res.stderr.strip()[-2000:]}")
        figures = json.loads(res.stdout.strip().splitlines()[-1])
        save.with_suffix(".json").write_text(json.dumps(figures))
    arr = np.load(save)
    return figures, [torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None] for a in arr]


def _detail(outs: list) -> float:  # type: ignore[type-arg]
    """Mean gradient magnitude of the in-between frames over that of the first and last frame."""

    def grad(x):  # type: ignore[no-untyped-def]
        return float(x.diff(dim=-1).abs().mean() + x.diff(dim=-2).abs().mean())

    inner = [grad(o) for o in outs[1:-1]] or [0.0]
    return (sum(inner) / len(inner)) / ((grad(outs[0]) + grad(outs[-1])) / 2)


def _side_by_side(path: Path, *clips: list) -> None:  # type: ignore[type-arg]
    """An MP4 of the clips side by side, and a sheet (.jpg) of their first, middle and last frames in rows."""
    import torch

    from analogist.io import save_animation, save_image

    save_animation(path, [torch.cat(tiles, dim=3) for tiles in zip(*clips)], fps=8)
    n = len(clips[0])
    rows = [torch.cat([c[i] for i in sorted({0, n // 2, n - 1})], dim=3) for c in clips]
    save_image(path.with_suffix(".jpg"), torch.cat(rows, dim=2))


def flow_accuracy() -> None:
    """Endpoint error of the flows on offer against Middlebury's ground truth (frame10 to frame11)."""
    import cv2
    import numpy as np

    from analogist.apps.video.flow import DIS_PRESETS, dis_flow
    from analogist.io import read_flo

    names = sorted(p.name for p in MIDDLEBURY.iterdir() if (p / "flow10.flo").is_file())
    methods = {f"DIS {k}": (lambda a, b, k=k: dis_flow(a, b, k).numpy()) for k in DIS_PRESETS}
    methods["Farneback"] = lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 5, 15, 5, 7, 1.5, 0).transpose(
        2, 0, 1
    )
    print(f"{'flow':14s} " + " ".join(f"{n[:10]:>10s}" for n in names) + f" {'mean':>6s} {'s/pair':>6s}")
    for label, fn in methods.items():
        errs, secs = [], 0.0
        for n in names:
            a, b = (cv2.imread(str(MIDDLEBURY / n / f), cv2.IMREAD_GRAYSCALE) for f in ("frame10.png", "frame11.png"))
            gt = read_flo(MIDDLEBURY / n / "flow10.flo")
            start = time.perf_counter()
            est = fn(a, b)
            secs += time.perf_counter() - start
            ok = (np.abs(gt) < 1e9).all(0)
            errs.append(float(np.linalg.norm(est - gt, axis=0)[ok].mean()))
        print(
            f"{label:14s} " + " ".join(f"{e:10.3f}" for e in errs) + f" {np.mean(errs):6.3f} {secs / len(names):6.3f}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--frames", type=int, default=8, help="frames per clip at 256 px")
    ap.add_argument("--frames-512", type=int, default=3, help="frames per clip at 512 px (per-frame NNST is slow)")
    ap.add_argument("--clips", default="pan,RubberWhale")
    ap.add_argument("--blends", default="poisson,crossfade", help="blendings of the propagated rows")
    ap.add_argument("--fresh", action="store_true", help="recompute the cached per-frame NNST runs")
    ap.add_argument("--clips-512", default="pan", help="clips run at 512 px")
    ap.add_argument("--memory", default="12,96", help="clip lengths of the propagation-only memory check (0: skip)")
    ap.add_argument("--memory-sizes", default="256,512", help="sizes of the propagation-only check")
    ap.add_argument("--flow", action="store_true", help="only the optical-flow accuracy on Middlebury")
    ap.add_argument("--one", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        clip, size, n, method, save, keys_from = args.one
        print(json.dumps(one(clip, int(size), int(n), method, save, keys_from)))
        return 0
    if args.flow:
        flow_accuracy()
        return 0
    from stylize import quality  # benchmarks/stylize.py: the NNST style figures

    from analogist.apps.video import warping_error

    cache = OUT / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start; preset fast, style swirls")
    head = (
        f"{'clip':12s} {'size':>4s} {'n':>3s} {'method':20s} {'s/frame':>7s} {'cpu/fr':>7s} {'peak MB':>7s} "
        f"{'keys':>4s} {'warp e3':>7s} {'style':>6s} {'ssim':>5s} {'detail':>6s}"
    )
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(s) for s in args.sizes.split(",") if int(s) > 0]:
            n = args.frames if size <= 256 else args.frames_512
            clips = args.clips.split(",") if size <= 256 else args.clips_512.split(",")
            for clip in clips:
                if clip != "pan" and not (MIDDLEBURY / clip).is_dir():
                    print(f"{clip}: {MIDDLEBURY / clip} is missing, skipped")
                    continue
                frames, style = make_clip(clip, size, n), _style(size)
                print(
                    f"{clip:12s} {size:4d} {n:3d} {'input':20s} {'':7s} {'':7s} {'':7s} {'':4s} "
                    f"{1000 * warping_error(frames, frames):7.3f}",
                    flush=True,
                )
                outputs = []
                per_frame = cache / f"{clip}-{size}-{n}-per-frame.npy"
                if args.fresh:
                    per_frame.unlink(missing_ok=True)
                for method in ["per-frame"] + [f"propagated-{b}" for b in args.blends.split(",")]:
                    f, outs = _run(clip, size, n, method, cache if method == "per-frame" else Path(tmp), per_frame)
                    if method == "per-frame":
                        nnst_s, nnst_cpu = f["seconds"] / n, f["cpu_s"] / n
                    else:  # the keyframes' NNST, taken from the per-frame run, counted at its cost
                        f["seconds"] += f["keyframes"] * nnst_s
                        f["cpu_s"] += f["keyframes"] * nnst_cpu
                    outputs.append(outs)
                    picks = sorted({0, n // 2, n - 1})
                    q = [quality(outs[i], frames[i], style) for i in picks]
                    print(
                        f"{clip:12s} {size:4d} {n:3d} {method:20s} {f['seconds'] / n:7.2f} {f['cpu_s'] / n:7.2f} "
                        f"{f['peak_mb']:7.0f} {f['keyframes']:4d} {1000 * warping_error(frames, outs):7.3f} "
                        f"{sum(x['style'] for x in q) / len(q):6.3f} {sum(x['ssim'] for x in q) / len(q):5.3f} "
                        f"{_detail(outs):6.3f}",
                        flush=True,
                    )
                _side_by_side(OUT / f"{clip}-{size}.mp4", frames, *outputs)
        lengths = [int(x) for x in args.memory.split(",") if int(x) > 0]
        for size in [int(s) for s in args.memory_sizes.split(",")]:
            for n in lengths:
                f, _ = _run("pan", size, n, "memory", Path(tmp))
                print(
                    f"propagation alone (identity keyframe), pan {size} px, {n:3d} frames: {f['seconds'] / n:.3f} "
                    f"s/frame ({f['cpu_s'] / n:.3f} CPU s), peak {f['peak_mb']:.0f} MB",
                    flush=True,
                )
    print(f"side-by-side videos (input | per-frame NNST | propagated, one per blending) in {OUT}")
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
