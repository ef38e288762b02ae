"""Video stylisation through keyframes: propagation properties on tiny synthetic clips, keyframe choice,
the warping error, and the ``analogist video`` command (frame count and rate, bad videos, interruption).

Properties that do not depend on NNST use a cheap pointwise stylizer; the CLI always runs NNST, so its
tests replace NNST by the same stub except one slow end-to-end run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_cli

from analogist.apps.video import (
    VideoParams,
    choose_keyframes,
    parse_keyframes,
    pipeline,
    stylize_video,
    warping_error,
)
from analogist.apps.video.pipeline import FrameStore, spool
from analogist.cli import video as cli_video
from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image, resize_longer, save_image

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")


def paint(content: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
    """A cheap stand-in for NNST: a pointwise recolouring (so a shifted frame gives a shifted result)."""
    return (0.2 + 0.6 * content.roll(1, dims=1)).clamp(0, 1)


def _quantised(image: torch.Tensor) -> torch.Tensor:
    return (image * 255).round() / 255  # frames travel as 8 bits


@pytest.fixture(scope="module")
def scene() -> torch.Tensor:
    return _quantised(load_image(example_path("astronaut.jpg"), 200))


def _pan(scene: torch.Tensor, n: int, step: int = 2) -> list[torch.Tensor]:
    """``n`` 64x96 frames of a camera panning right by ``step`` px per frame."""
    return [scene[..., 30:94, 20 + step * t : 116 + step * t] for t in range(n)]


def _run(frames: list[torch.Tensor], keyframes: object, **kw: object) -> list[torch.Tensor]:
    return list(stylize_video(iter(frames), frames[0], VideoParams(keyframes=keyframes, **kw), stylizer=paint))


def test_a_static_clip_stays_static(scene: torch.Tensor) -> None:
    frames = [scene[..., :64, :96]] * 7
    out = _run(frames, 2)
    assert len(out) == 7
    for o in out:
        assert (o - paint(frames[0])).abs().max() < 2e-3


@pytest.mark.parametrize("keys", [[0], [3, 7]])
def test_a_pan_gives_the_shifted_keyframe_in_the_overlap(scene: torch.Tensor, keys: list[int]) -> None:
    """Forward from a keyframe, backward before the first one, and blended between two."""
    frames = _pan(scene, 8)
    out = _run(frames, keys)
    for k in keys:
        assert torch.equal(out[k], paint(frames[k]))
    m = 6  # the flow is least sure within a few pixels of the border
    for t in range(8):
        k = min(keys, key=lambda k: abs(k - t))
        s = 2 * (t - k)  # frame t shows keyframe k moved left by s px
        a = out[t][..., m:-m, m + max(-s, 0) : 96 - m - max(s, 0)]
        b = out[k][..., m:-m, m + max(s, 0) : 96 - m - max(-s, 0)]
        err = (a - b).abs()
        assert err.mean() < 2e-3 and err.max() < 0.05, (t, float(err.mean()), float(err.max()))


def test_revealed_background_is_rematched_not_smeared(scene: torch.Tensor) -> None:
    """A flat square slides over a textured still background; with the identity as stylizer the
    output must reproduce the frames, including the background the square uncovers."""
    background = scene[..., 40:104, 40:136]
    frames = []
    for t in range(6):
        f = background.clone()
        f[..., 20:44, 10 + 4 * t : 34 + 4 * t] = torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1)
        frames.append(f)
    out = list(stylize_video(iter(frames), frames[0], VideoParams(keyframes=[0]), stylizer=lambda c, s: c))
    region = (..., slice(22, 42), slice(12, 28))  # covered by the square at t=0, background at t=5
    err = (out[5] - frames[5])[region].abs().mean()
    stale = (frames[0] - frames[5])[region].abs().mean()
    assert err < 0.2 * stale, (float(err), float(stale))
    red = (out[5][region] - frames[0][..., 30:31, 20:21]).abs().sum(1) < 0.1
    assert red.float().mean() < 0.05


def test_keyframe_specs() -> None:
    assert parse_keyframes("auto") == "auto"
    assert parse_keyframes("3") == 3 and parse_keyframes(2) == 2
    assert parse_keyframes("60, 0,30,30") == (0, 30, 60) and parse_keyframes("0,") == (0,)
    assert choose_keyframes(3, 90, [0]) == [15, 45, 75]
    assert choose_keyframes(10, 4, [0]) == [0, 1, 2, 3]
    for bad in ("often", "0,-2", "0", "", ",", "1.5"):
        with pytest.raises(InputError):
            parse_keyframes(bad)
    with pytest.raises(InputError, match="past the clip"):
        choose_keyframes("0,12", 10, [0])


def test_auto_keyframes_follow_a_cut(scene: torch.Tensor, tmp_path: Path) -> None:
    other = _quantised(load_image(example_path("coffee.jpg"), 200))
    frames = _pan(scene, 8) + [other[..., 20:84, 20 + t : 116 + t] for t in range(8)]
    store = FrameStore(tmp_path)
    keys = spool(iter(frames), store, VideoParams(min_gap=3), progress=lambda it, **kw: it)
    assert keys == [0, 8] and store.count == 16


def test_the_warping_error_sees_flicker(scene: torch.Tensor) -> None:
    frames = _pan(scene, 4)
    steady = [paint(f) for f in frames]
    gen = torch.Generator().manual_seed(0)
    flicker = [(s + 0.1 * torch.rand(s.shape, generator=gen)).clamp(0, 1) for s in steady]
    # independent uniform noise of 0.1 adds 2 * 0.1^2 / 12 per channel: 0.005 over RGB
    assert warping_error(frames, steady) < 1e-4
    assert 0.004 < warping_error(frames, flicker) < 0.006


def test_frames_of_another_size_follow_the_first(scene: torch.Tensor) -> None:
    frames = [scene[..., :64, :96], scene[..., :80, :120]]
    out = _run(frames, [0], size=48)
    assert [tuple(o.shape) for o in out] == [(1, 3, 32, 48)] * 2


# ----------------------------------------------------------------------------------------------- CLI


def _clip(path: Path, scene: torch.Tensor, n: int = 10, fps: float = 15) -> Path:
    w = imageio_ffmpeg.write_frames(str(path), (96, 64), fps=fps, macro_block_size=1, ffmpeg_log_level="error")
    w.send(None)
    for f in _pan(scene, n):
        w.send(np.ascontiguousarray((f[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)))
    w.close()
    return path


def _probe(path: Path) -> tuple[float, int]:
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    return meta["fps"], sum(1 for _ in gen)


@pytest.fixture
def stub_nnst(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def fake(content: torch.Tensor, style: torch.Tensor, params: object, progress: object = None) -> torch.Tensor:
        calls.append(1)
        return paint(content)

    monkeypatch.setattr(pipeline, "stylize", fake)
    monkeypatch.setattr(cli_video, "stylize", fake, raising=False)  # where the command runs NNST itself
    return calls


def test_cli_keeps_frame_count_and_rate_and_drops_audio(
    capsys, tmp_path: Path, scene: torch.Tensor, stub_nnst: list[int]
) -> None:
    clip = tmp_path / "in.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    silent = _clip(tmp_path / "silent.mp4", scene, n=12, fps=12)
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-i",
            str(silent),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-shortest",
            "-c:v",
            "copy",
            str(clip),
        ],
        check=True,
    )
    style = example_path("swirls.jpg")
    code, _, err = run_cli(
        capsys,
        "video",
        str(clip),
        str(style),
        "-o",
        str(tmp_path / "out.mp4"),
        "--size",
        "64",
        "--keyframes",
        "0,11",
        "--frames-dir",
        str(tmp_path / "frames"),
    )
    assert code == 0, err
    assert "audio" in err and len(stub_nnst) == 2
    assert _probe(tmp_path / "out.mp4") == (12.0, 12)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_{i:05d}.png" for i in range(12)]


def test_cli_reads_a_folder_of_frames_at_the_given_rate(
    capsys, tmp_path: Path, scene: torch.Tensor, stub_nnst: list[int]
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(_pan(scene, 5)):
        save_image(folder / f"f{i}.png", f)
    code, _, err = run_cli(
        capsys,
        "video",
        str(folder),
        str(example_path("swirls.jpg")),
        "-o",
        str(tmp_path / "out.mp4"),
        "--size",
        "64",
        "--keyframes",
        "1",
        "--fps",
        "8",
    )
    assert code == 0, err
    assert _probe(tmp_path / "out.mp4") == (8.0, 5)


def test_cli_refuses_bad_videos_in_one_line(capsys, tmp_path: Path) -> None:
    style = str(example_path("swirls.jpg"))
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    empty = imageio_ffmpeg.write_frames(
        str(tmp_path / "empty.mp4"), (32, 32), macro_block_size=1, ffmpeg_log_level="quiet"
    )
    empty.send(None)
    empty.close()
    (tmp_path / "nothing").mkdir()
    cases = {
        "corrupt.mp4": "not a video",
        "empty.mp4": "no video frames",
        "nothing": "no image files",
        "missing.mp4": "no such file",
    }
    for name, words in cases.items():
        code, _, err = run_cli(capsys, "video", str(tmp_path / name), style, "-o", str(tmp_path / "o.mp4"))
        assert code == 2 and err.count("\n") == 1 and err.startswith("error:") and words in err, (name, err)
    code, _, err = run_cli(capsys, "video", str(tmp_path / "corrupt.mp4"), style, "-o", str(tmp_path / "o.gif"))
    assert code == 2 and ".mp4" in err
    assert not (tmp_path / "o.mp4").exists()


def _video(capsys, source: Path, out: Path, *extra: str) -> tuple[int, str]:
    """``analogist video SOURCE swirls.jpg -o OUT/v.mp4 --size 64 --frames-dir OUT/frames ...``."""
    style = str(example_path("swirls.jpg"))
    argv = ["video", str(source), style, "-o", str(out / "v.mp4"), "--size", "64", "--frames-dir", str(out / "frames")]
    code, _, err = run_cli(capsys, *argv, *extra)
    return code, err


def test_an_interrupted_run_leaves_nothing(
    capsys, tmp_path: Path, scene: torch.Tensor, monkeypatch: pytest.MonkeyPatch, stub_nnst: list[int]
) -> None:
    clip = _clip(tmp_path / "in.mp4", scene)
    real, written = cli_video.Mp4Writer.write, []

    def interrupt_third(self: object, frame: object) -> None:
        written.append(1)
        if len(written) == 3:  # two frames are in the video and in the frames folder by now
            raise KeyboardInterrupt
        real(self, frame)

    monkeypatch.setattr(cli_video.Mp4Writer, "write", interrupt_third)
    out = tmp_path / "out"
    code, err = _video(capsys, clip, out, "--keyframes", "0,9")
    assert code == 130 and "interrupted" in err
    assert len(written) == 3 and len(stub_nnst) == 2
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.slow
def test_cli_stylises_keyframes_with_nnst(capsys, tmp_path: Path, scene: torch.Tensor) -> None:
    clip = _clip(tmp_path / "in.mp4", scene, n=4)
    code, _, err = run_cli(
        capsys,
        "video",
        str(clip),
        str(example_path("swirls.jpg")),
        "-o",
        str(tmp_path / "out.mp4"),
        "--size",
        "48",
        "--keyframes",
        "1",
        "--frames-dir",
        str(tmp_path / "frames"),
    )
    assert code == 0, err
    assert _probe(tmp_path / "out.mp4")[1] == 4
    key = load_image(tmp_path / "frames" / "frame_00002.png")  # keyframe 1 of 1 sits in the middle
    assert key.shape[-2:] == (32, 48)
    assert (key - resize_longer(_pan(scene, 4)[2], 48)).abs().mean() > 0.05  # restyled, not copied


@pytest.mark.parametrize("failure", ["corrupt frame", "ctrl-c"])
def test_a_failed_rerun_keeps_the_earlier_video_and_frames(
    capsys, tmp_path: Path, scene: torch.Tensor, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i, f in enumerate(_pan(scene, 5)):
        save_image(folder / f"f{i}.png", f)

    def interrupt_second(content: torch.Tensor, style: torch.Tensor, params: object, progress: object = None):
        if failure == "ctrl-c" and content.sum() != interrupt_second.first:  # a later keyframe
            raise KeyboardInterrupt
        interrupt_second.first = content.sum()
        return paint(content)

    interrupt_second.first = None
    if failure == "corrupt frame":
        (folder / "f3.png").write_bytes((folder / "f3.png").read_bytes()[:60])  # truncated mid-stream
    monkeypatch.setattr(pipeline, "stylize", interrupt_second)
    monkeypatch.setattr(cli_video, "stylize", interrupt_second, raising=False)
    out = tmp_path / "out"
    (out / "frames").mkdir(parents=True)
    (out / "v.mp4").write_bytes(b"the earlier run's video")
    (out / "frames" / "frame_00000.png").write_bytes(b"the earlier run's frame")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, err = _video(capsys, folder, out, "--keyframes", "0,4", "--fps", "8")
    assert code == (2 if failure == "corrupt frame" else 130), err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in out.rglob("*")) == ["frame_00000.png", "frames", "v.mp4"]


def test_the_frame_bar_counts_propagation_only(scene: torch.Tensor) -> None:
    # a keyframe's NNST takes minutes where a propagated frame takes a second: run inside the frame bar,
    # they made its rate, and so its time left, swing by orders of magnitude
    events: list[str] = []

    def stylizer(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        events.append("nnst")
        return paint(content)

    def progress(iterable, *, total=None, desc=None):
        for item in iterable:
            events.append(desc.split(" ")[0])
            yield item

    frames = _pan(scene, 8)
    out = list(
        stylize_video(iter(frames), frames[0], VideoParams(keyframes="0,4,7"), stylizer=stylizer, progress=progress)
    )
    assert len(out) == 8 and events.count("nnst") == 3
    first_frame = events.index("video")
    assert events[:first_frame].count("nnst") == 3 and "nnst" not in events[first_frame:]
