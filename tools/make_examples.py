"""Regenerate the bundled example images in src/analogist/data/examples (run once; outputs are committed).

Sources are all license-clean: scikit-image's sample photographs (CC0 / public domain, see
src/analogist/data/examples/PROVENANCE.md) and pictures generated here from them or from noise.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "src" / "analogist" / "data" / "examples"


def fit(img: np.ndarray, longer: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = longer / max(h, w)
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def painted_cat(cat: np.ndarray) -> np.ndarray:
    """A painted-looking, zoomed and re-framed copy of the cat: a cross-domain partner for it.

    Not mirrored: like the TSS kit, which mirrors flipped pairs back before matching, the demos
    show correspondences that PatchMatch-style propagation can follow.
    """
    h, w = cat.shape[:2]
    crop = cat[int(0.06 * h) : int(0.94 * h), int(0.12 * w) : int(0.94 * w)]
    crop = np.ascontiguousarray(crop)
    bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
    paint = cv2.stylization(bgr, sigma_s=80, sigma_r=0.5)
    hsv = cv2.cvtColor(paint, cv2.COLOR_BGR2HSV).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + 95) % 180  # warm tabby to a cool blue-violet palette
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.6 + 30, 0, 255)
    paint = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    edges = cv2.Canny(cv2.GaussianBlur(bgr, (5, 5), 0), 60, 140)
    paint[cv2.dilate(edges, np.ones((2, 2), np.uint8)) > 0] //= 3  # ink lines
    return cv2.cvtColor(paint, cv2.COLOR_BGR2RGB)


def swirl_style(size: int = 384, seed: int = 7) -> np.ndarray:
    """Brush-stroke swirls: noise smeared along a field of vortices, in a night-sky palette."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    vx = np.zeros_like(xx)
    vy = np.zeros_like(yy)
    for _ in range(6):
        cx, cy = rng.uniform(0, size, 2)
        s = rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.2)
        dx, dy = xx - cx, yy - cy
        r2 = dx * dx + dy * dy + 400.0
        fall = np.exp(-r2 / (2 * (size * 0.22) ** 2))
        vx += s * -dy / np.sqrt(r2) * fall
        vy += s * dx / np.sqrt(r2) * fall
    vx += 0.15
    noise = cv2.resize(
        rng.random((size // 4, size // 4)).astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST
    )
    acc = np.zeros_like(noise)
    px, py = xx.copy(), yy.copy()
    for _ in range(24):  # line integral convolution by repeated advection
        acc += cv2.remap(noise, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        u = cv2.remap(vx, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        v = cv2.remap(vy, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        px, py = px + 1.5 * u, py + 1.5 * v
    t = (acc - acc.min()) / (acc.max() - acc.min())
    t = np.clip((t - 0.5) * 1.8 + 0.5 + 0.25 * np.sin(yy / size * 3.0), 0, 1)
    palette = np.array([[12, 24, 70], [30, 70, 150], [90, 150, 210], [235, 215, 110], [250, 240, 190]], np.float32)
    idx = t * (len(palette) - 1)
    lo = np.floor(idx).astype(int).clip(0, len(palette) - 2)
    f = (idx - lo)[..., None]
    return (palette[lo] * (1 - f) + palette[lo + 1] * f).astype(np.uint8)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cat = skimage.data.chelsea()
    save = lambda name, arr, **kw: Image.fromarray(arr).save(OUT / name, **kw)  # noqa: E731
    save("cat.jpg", fit(cat, 384), quality=90)
    save("cat_painting.jpg", fit(painted_cat(cat), 384), quality=90)
    save("astronaut.jpg", fit(skimage.data.astronaut(), 384), quality=90)
    save("coffee.jpg", fit(skimage.data.coffee(), 384), quality=90)
    save("rocket.jpg", fit(skimage.data.rocket(), 384), quality=90)
    save("swirls.jpg", swirl_style(), quality=92)


if __name__ == "__main__":
    main()
