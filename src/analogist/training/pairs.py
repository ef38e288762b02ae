"""Training pairs from a folder of real image pairs without labels (SAM-Net's weakly supervised step).

A pair folder holds either files named ``NAME_a.EXT`` and ``NAME_b.EXT`` (any formats Pillow reads,
searched recursively) or two subfolders ``a/`` and ``b/`` whose files share their names up to the
extension. Anything else is refused with one sentence naming the first offending file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..io import read_image_array
from .data import image_files

HINT = "name the images NAME_a.EXT and NAME_b.EXT, or put them in subfolders a/ and b/ under the same names"


def pair_files(root: str | os.PathLike) -> list[tuple[Path, Path]]:
    """The ``(a, b)`` image pairs of a pair folder, sorted by name.

    Raises:
        InputError: the folder is missing, holds no pair, or an image has no partner.
    """
    root = Path(root)
    files = image_files(root)
    if (root / "a").is_dir() and (root / "b").is_dir():
        sides = {
            s: {p.relative_to(root / s).with_suffix(""): p for p in files if p.is_relative_to(root / s)} for s in "ab"
        }
    else:
        sides = {"a": {}, "b": {}}
        for p in files:
            stem, _, side = p.stem.rpartition("_")
            if side.lower() not in ("a", "b") or not stem:
                raise InputError(f"{p} is not part of a pair: {HINT}")
            sides[side.lower()][p.parent.relative_to(root) / stem] = p
    for s, other in (("a", "b"), ("b", "a")):
        lonely = sorted(set(sides[s]) - set(sides[other]))
        if lonely:
            raise InputError(f"{sides[s][lonely[0]]} has no '{other}' partner: {HINT}")
    if not sides["a"]:
        raise InputError(f"no image pairs in {root}: {HINT}")
    return [(sides["a"][k], sides["b"][k]) for k in sorted(sides["a"])]


class PairFolder:
    """Random pairs of a pair folder, each image resized to ``size x size`` (the pair keeps its
    correspondence, so neither is cropped); both flipped left-right together with probability one half
    and their order swapped with probability one half. Decoded images are cached."""

    def __init__(self, root: str | os.PathLike, size: int = 256) -> None:
        if size < 8:
            raise InputError(f"training images must be at least 8 pixels, got {size}")
        self.root, self.size = Path(root), int(size)
        self.pairs = pair_files(root)
        self._cache: dict[Path, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            arr = read_image_array(path)
            im = Image.fromarray((arr * 255.0 + 0.5).astype(np.uint8))
            self._cache[path] = np.asarray(im.resize((self.size, self.size), Image.Resampling.LANCZOS))
        return self._cache[path]

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` random pairs: two ``(n, 3, size, size)`` float32 batches in [0, 1]."""
        idx = torch.randint(len(self.pairs), (n,), generator=generator).tolist()
        flips = (torch.rand(n, generator=generator) < 0.5).tolist()
        swaps = (torch.rand(n, generator=generator) < 0.5).tolist()
        out: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        for i, flip, swap in zip(idx, flips, swaps):
            a, b = (self._load(p) for p in self.pairs[i])
            if swap:
                a, b = b, a
            for side, im in zip(out, (a, b)):
                side.append(im[:, ::-1] if flip else im)
        return tuple(torch.from_numpy(np.stack(s).copy()).permute(0, 3, 1, 2).float().div_(255.0) for s in out)

    def describe(self) -> dict[str, object]:
        """Provenance: folder, pair count and size."""
        return {"folder": str(self.root.resolve()), "pairs": len(self.pairs), "size": self.size}


__all__ = ["PairFolder", "pair_files"]
