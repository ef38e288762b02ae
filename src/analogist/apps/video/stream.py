"""Video files and frame folders, read and written one frame at a time (imageio-ffmpeg).

Readers yield ``(1, 3, H, W)`` float32 frames in [0, 1] and can be iterated more than once; the
writer takes such frames and streams them into an H.264 MP4, so no clip is ever held in memory.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ...errors import InputError
from ...io import PathLike, load_image, to_uint8

log = logging.getLogger("analogist")

#: Frame rate given to a folder of frames unless the caller says otherwise.
FOLDER_FPS = 25.0


def _ffmpeg():  # type: ignore[no-untyped-def]
    try:
        import imageio_ffmpeg
    except ImportError:
        raise InputError(
            "reading and writing video needs the imageio-ffmpeg package (pip install imageio-ffmpeg)"
        ) from None
    return imageio_ffmpeg


def _natural(path: Path) -> list[object]:
    """Sort key that puts frame_2 before frame_10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


@dataclass(frozen=True)
class VideoSource:
    """A video file or a folder of frame images.

    Attributes:
        path: the file or folder.
        fps: frames per second (a folder's is given, a video's read from the file).
        has_audio: the file has an audio track (which analogist does not carry over).
        files: a folder's frame files in order (empty for a video file).
    """

    path: Path
    fps: float
    has_audio: bool = False
    files: tuple[Path, ...] = ()

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.files:
            for f in self.files:
                yield load_image(f)
            return
        gen = _read(self.path)
        try:
            meta = next(gen)
            w, h = meta["size"]
            for raw in gen:
                arr = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
                yield torch.from_numpy(arr.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        except (OSError, RuntimeError) as exc:
            raise _read_error(self.path, exc) from None
        finally:
            gen.close()

    def count(self) -> int:
        """Number of frames (a video is decoded once to count them exactly); 0 is refused."""
        if self.files:
            return len(self.files)
        gen = _read(self.path)
        try:
            next(gen)
            n = sum(1 for _ in gen)
        except (OSError, RuntimeError) as exc:
            raise _read_error(self.path, exc) from None
        finally:
            gen.close()
        if n == 0:
            raise InputError(f"{self.path} has no video frames")
        return n


def _read(path: Path):  # type: ignore[no-untyped-def]
    return _ffmpeg().read_frames(str(path))


def _read_error(path: Path, exc: Exception) -> InputError:
    text = str(exc)
    if "does not contain any stream" in text or "matches no streams" in text:
        return InputError(f"{path} has no video frames")
    return InputError(f"{path} is not a video analogist can read (corrupt, truncated or an unknown format)")


def open_video(path: PathLike, fps: float | None = None) -> VideoSource:
    """A :class:`VideoSource` for a video file or a folder of images, checked before any work.

    Args:
        fps: frame rate of a folder (default :data:`FOLDER_FPS`); a video file keeps its own.

    Raises:
        InputError: missing path, an empty folder, or a file ffmpeg cannot open as a video.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_dir():
        known = Image.registered_extensions()
        files = sorted((f for f in path.iterdir() if f.is_file() and f.suffix.lower() in known), key=_natural)
        if not files:
            raise InputError(f"{path} holds no image files to use as frames")
        return VideoSource(path, float(fps or FOLDER_FPS), False, tuple(files))
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    gen = _read(path)
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as exc:
        raise _read_error(path, exc) from None
    finally:
        gen.close()
    rate = float(meta.get("fps") or 0)
    if rate <= 0:
        rate = float(fps or FOLDER_FPS)
        log.info("%s does not state its frame rate: writing %g frames per second", path.name, rate)
    return VideoSource(path, rate, bool(meta.get("audio_codec")))


class Mp4Writer:
    """Streams frames into an H.264 MP4 at ``path`` (use the temporary path of
    :func:`analogist.io.atomic_path`, so an interrupted run leaves no broken file).

    Frames ``(1, 3, H, W)`` in [0, 1] or ``(H, W, 3)`` uint8; odd sizes lose their last row or
    column (H.264 wants even sides). Use as a context manager: ffmpeg is stopped however the block
    ends.
    """

    def __init__(self, path: PathLike, fps: float, quality: float = 8.0) -> None:
        self.path, self.fps, self.quality = Path(path), fps, quality
        self._gen = None
        self.frames = 0

    def write(self, frame: torch.Tensor | np.ndarray) -> None:
        arr = to_uint8(frame)
        h, w = arr.shape[0] - arr.shape[0] % 2, arr.shape[1] - arr.shape[1] % 2
        if self._gen is None:
            self._size = (w, h)
            self._gen = _ffmpeg().write_frames(
                str(self.path),
                (w, h),
                fps=self.fps,
                quality=self.quality,
                codec="libx264",
                macro_block_size=1,
                ffmpeg_log_level="error",
            )
            self._gen.send(None)
        elif (w, h) != self._size:
            raise ValueError(f"frame {self.frames} is {w}x{h}, the video is {self._size[0]}x{self._size[1]}")
        self._gen.send(np.ascontiguousarray(arr[:h, :w]))
        self.frames += 1

    def __enter__(self) -> "Mp4Writer":  # noqa: UP037, PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None


__all__ = ["FOLDER_FPS", "Mp4Writer", "VideoSource", "open_video"]
