"""Checking uploaded images before any job exists: formats, pixels, decodability, in the user's words.

Uploads are saved under names the server chooses (``a.png``, ``b.jpg``); the user's file name only
ever appears in messages, never in a path.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from ..io import read_image_array

#: Pillow format -> suffix the upload is stored under.
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif", "MPO": ".jpg"}
FORMAT_NAMES = "PNG, JPEG, WebP, TIFF, BMP or GIF"


def display_name(filename: str | None, fallback: str) -> str:
    """The user's file name, shortened and stripped of anything but printable characters, for messages."""
    name = Path((filename or "").replace("\\", "/")).name
    name = re.sub(r"[^\w .()+,-]", "_", name)[:60]
    return name or fallback


def check_upload(path: Path, name: str, *, max_pixels: int, min_side: int = 16) -> Path:
    """Validate an uploaded file saved at ``path`` and give it the suffix of its real format.

    Raises:
        InputError: one sentence naming the upload as ``name``.
    """
    if path.stat().st_size == 0:
        raise InputError(f"{name} is empty (0 bytes)")
    try:
        with Image.open(path) as im:
            fmt, (w, h) = im.format, im.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InputError(f"{name} is not an image analogist can read: upload a {FORMAT_NAMES} file") from None
    if fmt not in FORMATS:
        raise InputError(f"{name} is a {fmt} image: upload a {FORMAT_NAMES} file")
    if w * h > max_pixels:
        raise InputError(f"{name} is {w}x{h} pixels, more than the {max_pixels / 1e6:g} megapixels the web app accepts")
    if min(w, h) < min_side:
        raise InputError(f"{name} is {w}x{h} pixels: upload an image at least {min_side} pixels on each side")
    try:
        read_image_array(path)  # the CLI's decoder and its messages (truncated files, ...)
    except InputError as exc:
        raise InputError(str(exc).replace(str(path), name)) from None
    final = path.with_suffix(FORMATS[fmt])
    path.rename(final)
    return final
