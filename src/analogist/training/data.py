"""Training images from folders: every file Pillow can open, recursively, as seeded random crops."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from ..io import open_quietly, read_image_array

#: Decoded, resized images kept in memory per folder (bytes of uint8 pixels); beyond it images are
#: decoded again on every use. 256 MB holds about 1,000 photos at a 160 px shorter side.
CACHE_BYTES = 256 * 2**20


def image_files(root: str | os.PathLike) -> list[Path]:
    """Every file under ``root`` (recursively, sorted) whose header Pillow recognises.

    Raises:
        InputError: ``root`` is missing, not a folder, or holds no image.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of images" if root.exists() else f"no such folder: {root}")
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            with open_quietly(path):  # reads the header only
                files.append(path)
        except (UnidentifiedImageError, OSError, ValueError):
            continue
    if not files:
        raise InputError(f"no images in {root}: give a folder holding image files (any format Pillow reads)")
    return files


class ImageFolder:
    """Square random crops of the images in a folder.

    Each image is resized (antialiased) so that its shorter side is ``size`` times a random zoom in
    ``zoom``, then cropped to ``size x size`` at a random place and flipped left-right with
    probability one half. Every random choice comes from the generator passed to :meth:`sample`,
    so a seeded generator gives the same batches on every run.

    Args:
        root: folder searched recursively (see :func:`image_files`).
        size: side of the crops in pixels.
        seed: kept for provenance and as the default seed of :meth:`generator`.
        zoom: range of the extra scale factor (``(1, 1)``: the shorter side is exactly ``size``).
    """

    def __init__(
        self, root: str | os.PathLike, size: int = 128, seed: int = 0, zoom: tuple[float, float] = (1.0, 1.0)
    ) -> None:
        if size < 8:
            raise InputError(f"training crops must be at least 8 pixels, got {size}")
        if not 1.0 <= zoom[0] <= zoom[1]:
            raise InputError(f"zoom must be a range (lo, hi) with 1 <= lo <= hi, got {zoom}")
        self.root, self.size, self.seed, self.zoom = Path(root), int(size), int(seed), zoom
        self.files = image_files(root)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.files)

    def generator(self) -> torch.Generator:
        """A CPU generator seeded with this folder's seed."""
        return torch.Generator().manual_seed(self.seed)

    def _resized(self, index: int, short: int) -> np.ndarray:
        """Image ``index`` as uint8 ``(H, W, 3)`` with shorter side ``short``."""
        key = (index, short)
        if key in self._cache:
            return self._cache[key]
        arr = read_image_array(self.files[index])
        h, w = arr.shape[:2]
        scale = short / min(h, w)
        im = Image.fromarray((arr * 255.0 + 0.5).astype(np.uint8))
        im = im.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.Resampling.LANCZOS)
        out = np.asarray(im)
        if self._cached_bytes + out.nbytes <= CACHE_BYTES:
            self._cache[key] = out
            self._cached_bytes += out.nbytes
        return out

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` random crops ``(n, 3, size, size)`` float32 in [0, 1] (images drawn with replacement)."""
        idx = torch.randint(len(self.files), (n,), generator=generator).tolist()
        zooms = torch.rand(n, generator=generator, dtype=torch.float64).tolist()
        offsets = torch.rand(n, 2, generator=generator, dtype=torch.float64).tolist()
        flips = (torch.rand(n, generator=generator) < 0.5).tolist()
        crops = []
        for i, z, (oy, ox), flip in zip(idx, zooms, offsets, flips):
            # zoom is quantised to whole pixels so the cache sees few distinct sizes
            short = round(self.size * (self.zoom[0] + z * (self.zoom[1] - self.zoom[0])))
            arr = self._resized(i, short)
            h, w = arr.shape[:2]
            y, x = int(oy * (h - self.size + 1)), int(ox * (w - self.size + 1))
            crop = arr[y : y + self.size, x : x + self.size]
            crops.append(crop[:, ::-1] if flip else crop)
        batch = torch.from_numpy(np.stack(crops).copy()).permute(0, 3, 1, 2)
        return batch.float().div_(255.0)

    def describe(self) -> dict[str, object]:
        """Provenance: folder, image count and crop settings."""
        return {
            "folder": str(self.root.resolve()),
            "images": len(self.files),
            "size": self.size,
            "zoom": list(self.zoom),
        }
