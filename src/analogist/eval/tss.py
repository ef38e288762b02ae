"""The TSS benchmark (Taniai et al., CVPR 2016): pairs with dense ground-truth flow and foreground masks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..io import load_image, open_quietly, read_flo

#: TSS subset folder names, in the order the papers' tables use.
TSS_SUBSETS = ("FG3DCar", "JODS", "PASCAL")


@dataclass(frozen=True)
class TSSPair:
    """One TSS pair folder (paths only)."""

    name: str  # "<subset>/<folder>", e.g. "FG3DCar/001_005"
    subset: str  # 'FG3DCar' | 'JODS' | 'PASCAL'
    image1: Path
    image2: Path
    flow1: Path  # image1 -> image2
    flow2: Path  # image2 -> image1
    mask1: Path
    mask2: Path
    corr: Path | None
    flip: bool  # flip_gt.txt == 1: image2 is a mirror view of image1

    def files(self) -> list[Path]:
        """Every file of the pair that a run reads."""
        extra = [self.corr] if self.corr is not None else []
        return [self.image1, self.image2, self.flow1, self.flow2, self.mask1, self.mask2, *extra]

    def missing(self) -> list[Path]:
        """Required files that do not exist."""
        return [p for p in self.files() if p != self.corr and not p.is_file()]


@dataclass(frozen=True)
class TSSData:
    """The arrays of one TSS pair at the files' resolution."""

    image1: torch.Tensor  # (1, 3, H1, W1) RGB in [0, 1]
    image2: torch.Tensor  # (1, 3, H2, W2)
    flow1: np.ndarray  # (2, H1, W1) image1 -> image2, unknown > 1e9
    flow2: np.ndarray  # (2, H2, W2) image2 -> image1
    mask1: np.ndarray  # (H1, W1) bool foreground
    mask2: np.ndarray  # (H2, W2) bool
    corr: np.ndarray | None  # (N, 4) x1, y1, x2, y2 in pixels (corr.txt is normalised to [0, 1])


def _read_flip(path: Path) -> bool:
    if not path.is_file():
        return False
    text = path.read_bytes()[:64].decode("utf-8", errors="replace").strip()
    if text not in ("", "0", "1"):
        raise InputError(f"{path}: expected 0 or 1, got {text[:20]!r}")
    return text == "1"


def tss_pairs(root: str | Path) -> list[TSSPair]:
    """List the pairs of a TSS folder: ``root`` holds FG3DCar/JODS/PASCAL (or is one of them).

    Other subfolders with the same pair layout are read as further subsets (e.g. the synthetic pair
    of ``analogist demo``).

    Raises:
        InputError: ``root`` is not a folder or holds no TSS subset.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"TSS folder {root} does not exist")

    def holds_pairs(folder: Path) -> bool:
        return any((d / "image1.png").is_file() for d in folder.iterdir() if d.is_dir())

    # the kit's three subsets in the papers' order, then any other subset laid out the same way
    others = sorted(d for d in root.iterdir() if d.is_dir() and d.name not in TSS_SUBSETS and holds_pairs(d))
    subsets = [root / s for s in TSS_SUBSETS if (root / s).is_dir()] + others
    if not subsets and holds_pairs(root):
        subsets = [root]
    if not subsets:
        raise InputError(
            f"{root} is not a TSS folder: expected subfolders {', '.join(TSS_SUBSETS)} "
            "holding pair folders with image1.png, image2.png, flow1.flo, ..."
        )
    pairs = []
    for sub in subsets:
        for d in sorted(p for p in sub.iterdir() if p.is_dir()):
            corr = d / "corr.txt"
            pairs.append(
                TSSPair(
                    name=f"{sub.name}/{d.name}",
                    subset=sub.name,
                    image1=d / "image1.png",
                    image2=d / "image2.png",
                    flow1=d / "flow1.flo",
                    flow2=d / "flow2.flo",
                    mask1=d / "mask1.png",
                    mask2=d / "mask2.png",
                    corr=corr if corr.is_file() else None,
                    flip=_read_flip(d / "flip_gt.txt"),
                )
            )
    return pairs


def read_mask(path: str | Path) -> np.ndarray:
    """A foreground mask file as bool ``(H, W)``: any nonzero value (0/255 greyscale or 0/1 palette)."""
    path = Path(path)
    try:
        with open_quietly(path) as im:
            arr = np.asarray(im)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read mask {path}: {exc}") from None
    return (arr.reshape(arr.shape[0], arr.shape[1], -1) > 0).any(-1)


def load_tss_pair(pair: TSSPair) -> TSSData:
    """Read the images, flows, masks and sparse matches of one pair at the files' resolution."""
    image1, image2 = load_image(pair.image1), load_image(pair.image2)
    flow1, flow2 = read_flo(pair.flow1), read_flo(pair.flow2)
    mask1, mask2 = read_mask(pair.mask1), read_mask(pair.mask2)
    for img, flo, m, fname in ((image1, flow1, mask1, pair.flow1), (image2, flow2, mask2, pair.flow2)):
        if flo.shape[-2:] != img.shape[-2:] or m.shape != img.shape[-2:]:
            raise InputError(
                f"{fname}: flow {flo.shape[-2:]}, mask {m.shape} and image {tuple(img.shape[-2:])} sizes differ"
            )
    corr = None
    if pair.corr is not None:
        c = _read_corr(pair.corr)
        if c.size:
            (h1, w1), (h2, w2) = image1.shape[-2:], image2.shape[-2:]
            # normalised [0, 1] positions to pixel centres
            corr = c[:, :4] * np.array([w1, h1, w2, h2]) - 0.5
    return TSSData(image1, image2, flow1, flow2, mask1, mask2, corr)


def _read_corr(path: Path) -> np.ndarray:
    """``corr.txt`` as ``(N, >=4)`` floats (x1 y1 x2 y2 normalised to [0, 1] per row)."""
    try:
        c = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError, UnicodeDecodeError):
        raise InputError(f"{path}: expected rows of numbers 'x1 y1 x2 y2'") from None
    if c.size and (c.shape[1] < 4 or not np.isfinite(c[:, :4]).all()):
        raise InputError(f"{path}: expected rows of four finite numbers 'x1 y1 x2 y2'")
    return c
