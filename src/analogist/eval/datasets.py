"""Readers for the keypoint benchmarks in their published layouts (TSS, with dense flow: :mod:`.tss`).

- ``pairs-csv``: the PF-PASCAL / PF-WILLOW pair lists ``source_image,target_image,class,XA,YA,XB,YB``
  (``;``-separated keypoint coordinates in original pixels, paths relative to the csv or a root).
- ``spair``: SPair-71k, ``<root>/JPEGImages/<category>/<name>.jpg`` and
  ``<root>/PairAnnotation/<split>/*.json``.

Readers only list pairs and validate annotations; images are loaded when a pair is evaluated, so
that a missing image skips one pair instead of failing the run.

About ``flip_gt.txt`` (TSS): 1 marks pairs whose objects face opposite directions (image2 is a mirror
view of image1). The ground-truth flows of such pairs are given in the *unmirrored* images' pixels
(checked on the data: ``flow1`` agrees with ``corr.txt`` to < 1 px in raw coordinates, and is
hundreds of pixels off if image2 were mirrored). The kit gives the flag so that methods which cannot
match mirrored objects see image2 mirrored; :mod:`analogist.eval.runner` does that and mirrors the
estimated flow back before scoring against the raw ground truth."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import open_quietly

#: PF-PASCAL numbers its classes 1..20 in the PASCAL VOC order.
PASCAL_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


@dataclass(frozen=True)
class KeypointPair:
    """One annotated image pair for PCK: keypoints in original pixels, ``(x, y)``."""

    name: str
    category: str
    source: Path
    target: Path
    source_points: np.ndarray = field(repr=False)  # (N, 2)
    target_points: np.ndarray = field(repr=False)  # (N, 2)
    source_bbox: np.ndarray | None = field(default=None, repr=False)  # (4,) x1, y1, x2, y2
    target_bbox: np.ndarray | None = field(default=None, repr=False)

    def files(self) -> list[Path]:
        """Every file of the pair that a run reads."""
        return [self.source, self.target]

    def missing(self) -> list[Path]:
        return [p for p in self.files() if not p.is_file()]


def _image_size(path: Path) -> tuple[int, int] | None:
    """``(W, H)`` from the file header, or None if the file is absent (reported later, not fatal)."""
    if not path.is_file():
        return None
    try:
        with open_quietly(path) as im:
            return im.size
    except Exception:  # unreadable or oversized images are reported (and skipped) when the pair is loaded
        return None


def _check_inside(points: np.ndarray, image: Path, where: str) -> None:
    size = _image_size(image)
    if size is None or len(points) == 0:
        return
    w, h = size
    # 1-based annotations may sit on x == W, so the far edge is inclusive
    bad = (points[:, 0] < 0) | (points[:, 1] < 0) | (points[:, 0] > w) | (points[:, 1] > h)
    if bad.any():
        x, y = points[np.argmax(bad)]
        raise InputError(f"{where}: keypoint ({x:g}, {y:g}) lies outside {image.name} ({w}x{h})")


def _parse_coords(text: str, where: str, column: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in str(text).split(";") if v.strip() != ""], dtype=np.float64)
    except ValueError:
        raise InputError(
            f"{where}: column {column} is not a ';'-separated list of numbers: {str(text)[:40]!r}"
        ) from None


def _column(row: dict[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        if n in row and row[n] is not None:
            return row[n]
    return None


def pairs_csv(path: str | Path, root: str | Path | None = None) -> list[KeypointPair]:
    """Read a PF-PASCAL / PF-WILLOW pair list.

    Columns (by header name): ``source_image``, ``target_image`` (or ``imageA``, ``imageB``), optional
    ``class`` (a PF-PASCAL class number 1..20 or a name; otherwise the source image's folder name),
    and ``XA, YA, XB, YB``. Keypoints with a NaN coordinate are dropped (absent in one image).

    Args:
        root: folder the image paths are relative to; default the csv's folder.

    Raises:
        InputError: unreadable csv, missing columns, malformed numbers, unequal keypoint counts, or
            a keypoint outside its image (naming the file and row).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such pair list: {path}")
    base = Path(root) if root is not None else path.parent
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    pairs = []
    for i, row in enumerate(rows, start=2):  # row 1 is the header
        where = f"{path.name} row {i}"
        row = {(k or "").strip(): v for k, v in row.items()}
        src, trg = _column(row, ("source_image", "imageA")), _column(row, ("target_image", "imageB"))
        if src is None or trg is None:
            raise InputError(f"{where}: needs columns source_image and target_image")
        coords = {}
        for c in ("XA", "YA", "XB", "YB"):
            if row.get(c) is None:
                raise InputError(f"{where}: missing column {c}")
            coords[c] = _parse_coords(row[c], where, c)
        n = len(coords["XA"])
        if any(len(v) != n for v in coords.values()):
            raise InputError(f"{where}: XA, YA, XB, YB have different numbers of keypoints")
        pa = np.stack([coords["XA"], coords["YA"]], 1)
        pb = np.stack([coords["XB"], coords["YB"]], 1)
        if np.isinf(pa).any() or np.isinf(pb).any():
            raise InputError(f"{where}: keypoint coordinates must be finite numbers (or nan where absent)")
        keep = np.isfinite(pa).all(1) & np.isfinite(pb).all(1)
        pa, pb = pa[keep], pb[keep]
        source, target = base / src.strip(), base / trg.strip()
        _check_inside(pa, source, where)
        _check_inside(pb, target, where)
        cls = (_column(row, ("class", "category")) or "").strip()
        if cls.isdigit():
            if not 1 <= int(cls) <= len(PASCAL_CLASSES):
                raise InputError(
                    f"{where}: class {cls} is not a PF-PASCAL class number (1 to {len(PASCAL_CLASSES)}); "
                    "give a number in range or a class name"
                )
            cls = PASCAL_CLASSES[int(cls) - 1]
        pairs.append(
            KeypointPair(
                name=f"{Path(src).stem}-{Path(trg).stem}",
                category=cls or source.parent.name,
                source=source,
                target=target,
                source_points=pa,
                target_points=pb,
            )
        )
    return pairs


def spair(root: str | Path, split: str = "test") -> list[KeypointPair]:
    """Read SPair-71k's pair annotations ``<root>/PairAnnotation/<split>/*.json``.

    Each json names ``src_imname``, ``trg_imname`` and ``category`` (images under
    ``JPEGImages/<category>/``) and gives ``src_kps``, ``trg_kps`` (lists of ``[x, y]``) and the
    boxes ``src_bndbox``, ``trg_bndbox`` ``[x1, y1, x2, y2]``.
    """
    root = Path(root)
    folder = root / "PairAnnotation" / split
    if not folder.is_dir():
        raise InputError(f"{root} is not an SPair-71k folder: {folder} is missing")
    pairs = []
    for f in sorted(folder.glob("*.json")):
        try:
            ann = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read {f}: {exc}") from None
        try:
            cat = str(ann["category"])
            src = root / "JPEGImages" / cat / str(ann["src_imname"])
            trg = root / "JPEGImages" / cat / str(ann["trg_imname"])
            pa = np.asarray(ann["src_kps"], dtype=np.float64).reshape(-1, 2)
            pb = np.asarray(ann["trg_kps"], dtype=np.float64).reshape(-1, 2)
            ba = np.asarray(ann["src_bndbox"], dtype=np.float64).reshape(4)
            bb = np.asarray(ann["trg_bndbox"], dtype=np.float64).reshape(4)
        except KeyError as exc:
            raise InputError(f"{f.name}: missing field {exc.args[0]}") from None
        except (TypeError, ValueError):
            raise InputError(f"{f.name}: keypoints or boxes are not lists of numbers") from None
        if len(pa) != len(pb):
            raise InputError(f"{f.name}: src_kps and trg_kps have different lengths")
        _check_inside(pa, src, f.name)
        _check_inside(pb, trg, f.name)
        pairs.append(
            KeypointPair(
                name=f.stem,
                category=cat,
                source=src,
                target=trg,
                source_points=pa,
                target_points=pb,
                source_bbox=ba,
                target_bbox=bb,
            )
        )
    if not pairs:
        raise InputError(f"{folder} holds no .json pair annotations")
    return pairs
