"""Measures of one gallery output, each a number a reader can hold against the picture.

Images are float arrays ``(H, W, 3)`` in [0, 1]; flows ``(2, H, W)`` (dx, dy) in pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.color import rgb2lab
from skimage.metrics import structural_similarity
from skimage.transform import resize


def _gray(im: np.ndarray) -> np.ndarray:
    return im @ np.array([0.299, 0.587, 0.114])


def edges(im: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grey image ``(H, W)``."""
    g = _gray(im)
    return np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1))


def fit(im: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``im`` resized to ``shape`` (H, W), antialiased."""
    if im.shape[:2] == shape:
        return im
    return resize(im, shape, order=1, anti_aliasing=True, preserve_range=True)


def folds(flow: np.ndarray, step: int = 4) -> dict[str, float]:
    """Share of the map ``x -> x + flow(x)`` whose Jacobian determinant is negative (a fold), on the
    flow subsampled ``step`` times, and the spread (standard deviation) of the log local area ratio."""
    f = flow[:, ::step, ::step] / step
    valid = np.isfinite(f).all(0)
    f = np.where(np.isfinite(f), f, 0.0)
    dxx, dxy = np.gradient(f[0], axis=1), np.gradient(f[0], axis=0)
    dyx, dyy = np.gradient(f[1], axis=1), np.gradient(f[1], axis=0)
    det = (1 + dxx) * (1 + dyy) - dxy * dyx
    det = det[valid]
    if det.size == 0:
        return {"fold": float("nan"), "area_spread": float("nan")}
    pos = det[det > 1e-6]
    return {
        "fold": float((det < 0).mean()),
        "area_spread": float(np.log(pos).std()) if pos.size else float("nan"),
    }


def structure(content: np.ndarray, out: np.ndarray) -> float:
    """SSIM of the content's and the output's edge maps: 1 = every edge of the content kept."""
    out = fit(out, content.shape[:2])
    ea, eb = edges(content), edges(out)
    top = max(float(np.percentile(ea, 99)), float(np.percentile(eb, 99)), 1e-6)
    return float(structural_similarity(np.clip(ea / top, 0, 1), np.clip(eb / top, 0, 1), data_range=1.0))


def _lab_stats(im: np.ndarray) -> np.ndarray:
    lab = rgb2lab(np.clip(im, 0, 1)).reshape(-1, 3)
    return np.concatenate([lab.mean(0), lab.std(0)])


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the CIELAB channel means and deviations (Lab units)."""
    return float(np.abs(_lab_stats(a) - _lab_stats(b)).mean())


def _band_energies(im: np.ndarray, bands: int = 4) -> np.ndarray:
    g = _gray(fit(im, (256, 256)) if max(im.shape[:2]) > 256 else im)
    out = []
    for _ in range(bands):
        low = ndimage.gaussian_filter(g, 1.0)
        out.append(np.abs(g - low).mean())
        g = low[::2, ::2]
    return np.log(np.array(out) + 1e-4)


def texture_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the log energies of four Laplacian bands."""
    return float(np.abs(_band_energies(a) - _band_energies(b)).mean())


def transfer(content: np.ndarray, style: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Structure kept, and the share of the content's colour and texture gap to the style the output closed
    (``colour_moved`` 1 = the style's colour statistics, 0 = the content's, negative = further away)."""
    c0, t0 = colour_distance(content, style), texture_distance(content, style)
    c1, t1 = colour_distance(out, style), texture_distance(out, style)
    return {
        "structure": structure(content, out),
        "colour_moved": 1 - c1 / max(c0, 1e-6),
        "texture_moved": 1 - t1 / max(t0, 1e-6),
        "sharpness": sharpness(content, out),
    }


def sharpness(reference: np.ndarray, out: np.ndarray) -> float:
    """Mean edge strength of ``out`` over that of ``reference`` at the same size: well under 1 is a blur."""
    ref = edges(reference).mean()
    return float(edges(fit(out, reference.shape[:2])).mean() / max(ref, 1e-6))


def _contrast(im: np.ndarray) -> float:
    e = edges(im)
    return float(e[e >= np.percentile(e, 95)].mean())


def ghosting(a: np.ndarray, b: np.ndarray, mix: np.ndarray) -> float:
    """Edge contrast a mix keeps from its two aligned sources, ``1 - top-5 % edge(mix) / mean(sources)``:
    about 0 when the sources' edges coincide, towards 0.5 when every edge is doubled at half contrast."""
    shape = mix.shape[:2]
    return float(1 - _contrast(mix) / max((_contrast(fit(a, shape)) + _contrast(fit(b, shape))) / 2, 1e-6))


def border_artefacts(frames: list[np.ndarray], depth: int = 8) -> float:
    """Step between each frame's outermost row (or column) and the next, over the median step between
    the following rows inward, averaged over the four sides: about 1 for clean frames, well above 1 where
    stripes run along the borders (median over frames)."""
    ratios = []
    for f in frames:
        g = _gray(f)
        sides = [g, g[::-1], g.T, g.T[::-1]]  # each side as the first rows of an array
        for side in sides:
            steps = np.abs(np.diff(side[: depth + 1], axis=0)).mean(1)
            ratios.append(steps[0] / max(float(np.median(steps[1:])), 1e-4))
    return float(np.median(np.array(ratios).reshape(len(frames), 4).mean(1)))
