"""A correspondence set with exact ground truth that is not faces: seeded synthetic warps of photos.

Each pair is a photo (the source) and the same photo pulled through a smooth random map (a homography
from moved corners composed with a thin-plate spline) and given a new appearance (colour mixing,
gamma, contrast, blur). The map ``M`` sends every *target* pixel ``q`` to the source point ``M(q)`` it
was sampled from, so a keypoint pair ``(M(q), q)`` is exact to float precision: no inversion, no
annotation. Keypoints sit on a jittered grid of target pixels whose source point is inside the photo
and textured (a flat patch of sky has no correct match to score).

Everything comes from ``numpy.random.default_rng(seed + index)``: the same photo list, seed and
index give the same pair, bit for bit, on every machine.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import RBFInterpolator

from ..io import load_image, resize_longer, save_image
from ..synthesis.filters import gaussian_blur
from ..synthesis.warp import sample

#: Default strengths: a rotation of up to 15 degrees and a zoom of 0.8-1.25 about the centre, corners
#: moved by up to 10 % of the side on top (perspective), TPS control points by up to 5 %.
ROTATE = 15.0
ZOOM = (0.8, 1.25)
CORNER_JITTER = 0.10
TPS_JITTER = 0.05
TPS_POINTS = 4


@dataclass
class WarpPair:
    """One synthetic pair: ``source``/``target`` ``(1, 3, H, W)`` in [0, 1]; ``source_points`` and
    ``target_points`` ``(N, 2)`` (x, y) pixels with ``source_points[k] == M(target_points[k])``;
    ``mapping`` ``(2, H, W)``: the source point ``M(q)`` of every target pixel ``q``."""

    source: torch.Tensor
    target: torch.Tensor
    source_points: np.ndarray
    target_points: np.ndarray
    mapping: torch.Tensor


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 homography sending 4 points ``src`` ``(4, 2)`` to ``dst`` ``(4, 2)`` (direct linear solve)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float))
    return np.append(h, 1.0).reshape(3, 3)


def random_mapping(
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    corner_jitter: float = CORNER_JITTER,
    tps_jitter: float = TPS_JITTER,
    tps_points: int = TPS_POINTS,
    rotate: float = ROTATE,
    zoom: tuple[float, float] = ZOOM,
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """A smooth random map on an ``(H, W)`` image: ``(mapping (2, H, W), fn)``, ``fn(points (N, 2)) ->
    (N, 2)`` the same map at any points (target pixels -> source points)."""
    h, w = size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    centre = corners.mean(0)
    angle = np.deg2rad(rng.uniform(-rotate, rotate))
    scale = np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1])))
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = centre + (corners - centre) @ rot.T + rng.uniform(-1, 1, (4, 2)) * corner_jitter * np.array([w, h])
    hom = homography(corners, moved)
    gy, gx = np.meshgrid(np.linspace(0, h - 1, tps_points), np.linspace(0, w - 1, tps_points), indexing="ij")
    anchors = np.stack([gx.ravel(), gy.ravel()], 1)
    offsets = rng.uniform(-1, 1, anchors.shape) * tps_jitter * np.array([w, h])
    spline = RBFInterpolator(anchors, offsets, kernel="thin_plate_spline")

    def fn(points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, float).reshape(-1, 2)
        bent = p + spline(p)  # the spline bends the target plane, then the homography maps it
        homog = np.concatenate([bent, np.ones((len(p), 1))], 1) @ hom.T
        return homog[:, :2] / homog[:, 2:]

    ys, xs = np.mgrid[0:h, 0:w]
    grid = fn(np.stack([xs.ravel(), ys.ravel()], 1))
    return grid.T.reshape(2, h, w), fn


def new_appearance(image: torch.Tensor, rng: np.random.Generator, strength: float = 1.0) -> torch.Tensor:
    """A changed look of ``(1, 3, H, W)`` in [0, 1]: a random colour mix near the identity, gamma,
    contrast and a light blur, scaled by ``strength`` (0: unchanged). Returns ``(1, 3, H, W)``."""
    if strength == 0:
        return image.clone()
    mix = np.eye(3) + rng.uniform(-0.5, 0.5, (3, 3)) * strength
    mix /= mix.sum(1, keepdims=True)  # keep grey roughly grey in brightness
    x = torch.einsum("ij,bjhw->bihw", torch.as_tensor(mix, dtype=image.dtype), image).clamp(0, 1)
    gamma = float(np.exp(rng.uniform(-0.5, 0.5) * strength))
    contrast = float(1 + rng.uniform(-0.4, 0.4) * strength)
    x = x.pow(gamma)
    x = ((x - x.mean()) * contrast + x.mean()).clamp(0, 1)
    sigma = float(rng.uniform(0, 1.6) * strength)
    if sigma > 0.3:
        x = gaussian_blur(x, sigma, radius=int(np.ceil(2 * sigma)))
    return x.clamp(0, 1)


def _textured(gray: np.ndarray, points: np.ndarray, radius: int = 4, min_std: float = 0.03) -> np.ndarray:
    """Which ``points`` ``(N, 2)`` have a grey-level std of at least ``min_std`` in their patch."""
    h, w = gray.shape
    keep = []
    for x, y in np.rint(points).astype(int):
        patch = gray[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1]
        keep.append(patch.std() >= min_std)
    return np.asarray(keep, bool)


def make_pair(
    photo: torch.Tensor,
    rng: np.random.Generator,
    *,
    points: int = 8,
    margin: float = 0.06,
    appearance: float = 1.0,
    corner_jitter: float = CORNER_JITTER,
    tps_jitter: float = TPS_JITTER,
    rotate: float = ROTATE,
    zoom: tuple[float, float] = ZOOM,
) -> WarpPair:
    """A synthetic pair from ``photo`` ``(1, 3, H, W)``: the target is the photo pulled through a random
    map with a new appearance; keypoints on a jittered ``points x points`` grid of target pixels."""
    h, w = photo.shape[-2:]
    mapping_np, fn = random_mapping(
        (h, w), rng, corner_jitter=corner_jitter, tps_jitter=tps_jitter, rotate=rotate, zoom=zoom
    )
    mapping = torch.as_tensor(mapping_np, dtype=torch.float32)
    target = sample(new_appearance(photo, rng, appearance), mapping)
    # target pixels on a jittered grid (integer pixels: the target value there is exactly the sample)
    cell = np.array([w, h]) * (1 - 2 * margin) / points
    ij = np.stack(np.meshgrid(np.arange(points), np.arange(points), indexing="xy"), -1).reshape(-1, 2)
    q = np.array([w, h]) * margin + (ij + rng.uniform(0.2, 0.8, ij.shape)) * cell
    q = np.rint(q)
    p = fn(q)
    lo, hi = np.array([2.0, 2.0]), np.array([w - 3.0, h - 3.0])
    inside = ((p >= lo) & (p <= hi)).all(1)
    gray = (photo[0] * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0).numpy()
    keep = inside & _textured(gray, np.clip(p, 0, [w - 1, h - 1]))
    return WarpPair(photo, target, p[keep], q[keep], mapping)


def photo_list(folder: str | Path) -> list[Path]:
    """The photos of ``folder`` in name order (what a seed indexes into)."""
    exts = {".jpg", ".jpeg", ".png"}
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in exts)


def write_set(
    photos: str | Path, out: str | Path, count: int, *, seed: int = 0, size: int = 320, appearance: float = 1.0
) -> Path:
    """Write ``count`` pairs as PNGs and a pairs-csv list (``analogist eval --dataset pairs-csv``).

    Pair ``i`` uses ``default_rng(seed + i)`` to choose its photo and warp; class ``warps``. Photos are
    resized to a longer side of ``size`` px. Returns the csv's path.
    """
    files = photo_list(photos)
    if not files:
        raise FileNotFoundError(f"no photos in {photos}")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        rng = np.random.default_rng(seed + i)
        photo = resize_longer(load_image(files[int(rng.integers(len(files)))]), size)
        pair = make_pair(photo, rng, appearance=appearance)
        names = [f"images/{i:03d}_{s}.png" for s in ("a", "b")]
        save_image(out / names[0], pair.source)
        save_image(out / names[1], pair.target)
        cols = [pair.source_points[:, 0], pair.source_points[:, 1], pair.target_points[:, 0], pair.target_points[:, 1]]
        rows.append([*names, "warps", *(";".join(f"{v:.3f}" for v in c) for c in cols)])
    path = out / "pairs.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source_image", "target_image", "class", "XA", "YA", "XB", "YB"])
        writer.writerows(rows)
    return path


__all__ = [
    "WarpPair",
    "homography",
    "random_mapping",
    "new_appearance",
    "make_pair",
    "photo_list",
    "write_set",
]
