"""Image and flow files: loading with validation, the shared size policy, atomic writes.

Everything that touches the file system lives here so that the core (features, matching, synthesis)
stays pure. Images travel through analogist as float32 tensors of shape ``(1, 3, H, W)`` with values in
``[0, 1]`` (RGB); flows as float32 tensors ``(2, H, W)`` holding ``(dx, dy)`` in pixels.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, OutputError

log = logging.getLogger("analogist")

#: Smallest and largest accepted value of ``--size`` (the longer image side after resizing).
MIN_SIZE = 32
MAX_SIZE = 4096
#: Images with more pixels than this are refused before they are decoded (decompression bombs).
MAX_PIXELS = 120_000_000

PathLike = str | os.PathLike


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Read once at import (single-threaded then): os.umask can only be read by setting it.
_UMASK = _read_umask()


def check_size(size: int | None, *, lo: int = MIN_SIZE, hi: int = MAX_SIZE, name: str = "--size") -> int | None:
    """Validate a longer-side size; ``None`` means "keep the image's own size"."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise InputError(f"{name} must be a whole number of pixels, got {size!r}")
    if not lo <= size <= hi:
        raise InputError(f"{name} {size} is out of range: use {lo} to {hi} pixels for the longer side")
    return int(size)


def check_image(image: object, name: str, *, min_side: int = 1) -> torch.Tensor:
    """Refuse anything but an RGB image tensor ``(1, 3, H, W)`` with both sides at least ``min_side``.

    The methods call this at their boundary, so API users get the same one-line errors as the CLI.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or tuple(image.shape[:2]) != (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError(f"{name} must be an RGB image tensor (1, 3, H, W), got {shape}")
    if min(image.shape[-2:]) < min_side:
        raise InputError(
            f"{name} is {image.shape[-1]}x{image.shape[-2]} pixels: at least {min_side} are needed on each side "
            "(give a larger --size or a less elongated image)"
        )
    return image


@contextlib.contextmanager
def open_quietly(path: PathLike) -> Iterator[Image.Image]:
    """``Image.open`` without Pillow's warnings: analogist's own :data:`MAX_PIXELS` decides what is too large,
    and a valid 100-megapixel file must not print Pillow's DecompressionBombWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = Image.open(path)
    with im:
        yield im


def _open_checked(path: Path) -> Image.Image:
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an image file")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    try:
        # analogist's own limit (MAX_PIXELS) decides; Pillow's smaller default would refuse valid images
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, TIFF metadata warnings
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(f"{path} has more than the {MAX_PIXELS // 1_000_000} megapixels analogist accepts") from None
    except (UnidentifiedImageError, SyntaxError, ValueError):
        raise InputError(f"{path} is not an image file analogist can read (not a known format, or corrupt)") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    w, h = im.size
    if w == 0 or h == 0:
        raise InputError(f"{path} has zero size ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise InputError(
            f"{path} is {w}x{h} pixels, more than the {MAX_PIXELS // 1_000_000} megapixels analogist accepts"
        )
    return im


def _to_rgb_array(im: Image.Image, path: Path) -> np.ndarray:
    """Any Pillow mode to float32 RGB ``(H, W, 3)`` in [0, 1]; alpha is composited on white."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if im.mode == "F":
            top = max(float(arr.max()), 1.0)
        gray = np.clip(arr / top, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() < 255:
            log.info("%s has transparency: composited on white", path.name)
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return np.asarray(im, dtype=np.float32) / 255.0


def read_image_array(path: PathLike) -> np.ndarray:
    """Read an image file as float32 RGB ``(H, W, 3)`` in [0, 1], upright per its EXIF orientation.

    Raises:
        InputError: the file is missing, a directory, empty, not an image, truncated or too large.
    """
    path = Path(path)
    im = _open_checked(path)
    try:
        # Pillow's own warnings (palette transparency, odd EXIF) are not the user's business
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im.seek(0)  # first frame of animations
            im = ImageOps.exif_transpose(im)
            im.load()
            return _to_rgb_array(im, path)
    except (OSError, SyntaxError, ValueError, IndexError, struct.error, EOFError, Image.DecompressionBombError):
        raise InputError(f"cannot decode {path}: it is truncated or corrupt") from None
    except MemoryError:
        raise InputError(f"cannot decode {path}: its header claims more pixels than memory holds") from None


def resize_longer(image: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` so that ``max(H, W) == size``, keeping the aspect ratio.

    Downscaling is antialiased. ``size=None`` returns the input unchanged.
    """
    if size is None:
        return image
    h, w = image.shape[-2:]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) == (h, w):
        return image
    out = F.interpolate(image, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)
    return out.clamp(0.0, 1.0)


def load_image(path: PathLike, size: int | None = None) -> torch.Tensor:
    """Load an image file as a float32 tensor ``(1, 3, H, W)`` in [0, 1].

    Args:
        path: any format Pillow reads (PNG, JPEG, WebP, TIFF, BMP, GIF first frame, ...).
        size: longer side after resizing (see :func:`check_size`); ``None`` keeps the file's size.
    """
    size = check_size(size)
    arr = read_image_array(path)
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0)
    return resize_longer(t, size)


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(1, 3, H, W)``/``(3, H, W)`` tensor or ``(H, W, 3)`` float array in [0, 1] to ``(H, W, 3)`` uint8."""
    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        if t.dim() == 4:
            t = t[0]
        if t.dim() == 3 and t.shape[0] in (1, 3):
            t = t.permute(1, 2, 0)
        image = t.numpy()
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` in one step.

    If the body raises (including ``KeyboardInterrupt``), the temporary file is removed and ``path``
    is left as it was, so an interrupted run never leaves a half-written output.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder {parent}: {exc.strerror or exc}") from None
    # the stem is shortened so that a temporary name stays valid wherever the final name is
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:40]}.", suffix=f".part{path.suffix[:16]}", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {parent}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; outputs get the permissions an ordinary open() would give them
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def image_format(path: PathLike) -> str:
    """Pillow's format name for the extension of ``path``; an unknown extension is an :class:`InputError`."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"unknown image extension {path.suffix!r} for {path}: use .png, .jpg, .webp, .tif or .bmp")
    return fmt


def save_image(path: PathLike, image: torch.Tensor | np.ndarray) -> Path:
    """Write an RGB image atomically; the format follows the file extension."""
    path = Path(path)
    fmt = image_format(path)
    arr = to_uint8(image)
    im = Image.fromarray(arr if arr.ndim == 3 else arr, mode=None)
    with atomic_path(path) as tmp:
        im.save(tmp, format=fmt)
    return path


def save_text(path: PathLike, text: str) -> Path:
    """Write a text file atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def save_animation(path: PathLike, frames: Sequence[np.ndarray | torch.Tensor], fps: float = 12.0) -> Path:
    """Write frames as an animated GIF or, for ``.mp4``, H.264 video (needs the ``imageio-ffmpeg`` package)."""
    import imageio.v3 as iio

    path = Path(path)
    arrs = [to_uint8(f) for f in frames]
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".gif":
            ims = [Image.fromarray(a) for a in arrs]
            ims[0].save(
                tmp, format="GIF", save_all=True, append_images=ims[1:], duration=int(round(1000 / fps)), loop=0
            )
        elif path.suffix.lower() == ".mp4":
            try:
                import imageio_ffmpeg  # noqa: F401
            except ImportError:
                raise InputError("writing .mp4 needs the imageio-ffmpeg package (pip install imageio-ffmpeg)") from None
            # H.264 wants even sizes
            h, w = arrs[0].shape[:2]
            arrs = [a[: h - h % 2, : w - w % 2] for a in arrs]
            iio.imwrite(
                tmp, np.stack(arrs), extension=".mp4", fps=fps, codec="libx264", plugin="FFMPEG", macro_block_size=1
            )
        else:
            raise InputError(f"unknown animation extension {path.suffix!r}: use .gif or .mp4")
    return path


# ------------------------------------------------------------------------------------------ .flo files

_FLO_TAG = 202021.25


def write_flo(path: PathLike, flow: torch.Tensor | np.ndarray) -> Path:
    """Write a flow ``(2, H, W)`` (dx, dy) in the Middlebury ``.flo`` format, atomically."""
    f = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow)
    if f.ndim != 3 or f.shape[0] != 2:
        raise ValueError(f"flow must have shape (2, H, W), got {f.shape}")
    _, h, w = f.shape
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.array([_FLO_TAG], np.float32).tofile(fh)
        np.array([w, h], np.int32).tofile(fh)
        np.ascontiguousarray(f.transpose(1, 2, 0), dtype=np.float32).tofile(fh)
    return path


def read_flo(path: PathLike) -> np.ndarray:
    """Read a Middlebury ``.flo`` file as float32 ``(2, H, W)`` (dx, dy)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such flow file: {path}")
    with open(path, "rb") as fh:
        tag = np.fromfile(fh, np.float32, 1)
        if tag.size != 1 or tag[0] != np.float32(_FLO_TAG):
            raise InputError(f"{path} is not a .flo file (bad magic number)")
        dims = np.fromfile(fh, np.int32, 2)
        if dims.size != 2 or dims.min() <= 0 or dims.prod() > MAX_PIXELS:
            raise InputError(f"{path} has an invalid size header")
        w, h = int(dims[0]), int(dims[1])
        data = np.fromfile(fh, np.float32, 2 * w * h)
    if data.size != 2 * w * h:
        raise InputError(f"{path} is truncated: expected {w}x{h} flow vectors")
    return data.reshape(h, w, 2).transpose(2, 0, 1).copy()
