"""Filters: the Gaussian blur, weighted least squares (Farbman et al. 2008) and the guided filter (He et al.).

The edge-preserving two take tensors ``(1, C, H, W)`` (any C) and a guide ``(1, 3, H, W)`` or
``(1, 1, H, W)`` RGB/grey in [0, 1], and return ``(1, C, H, W)``. The WLS filter is Deep Image Analogy's
photo-to-photo refinement (Eq. 7); the guided filter is the cheap alternative for colour transfer.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
import torch.nn.functional as F

#: Borders of :func:`gaussian_blur`: the edge pixel repeated (``aaa|abc``) or the image mirrored (``cba|abc``).
BORDERS = {"replicate": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT}


def gaussian_blur(
    image: torch.Tensor, sigma: float, *, radius: int | None = None, border: str = "replicate"
) -> torch.Tensor:
    """Every channel of ``image`` ``(N, C, H, W)`` blurred by a Gaussian of ``sigma`` pixels, separably.

    Args:
        radius: half-width of the kernel. ``None``: OpenCV's ``GaussianBlur``, whose kernel (weights in
            double precision) reaches about ``4 sigma`` each side for float images; it runs on the CPU and
            the result comes back on ``image``'s device and dtype. A number: the kernel
            ``exp(-x^2 / 2 sigma^2)`` over ``-radius..radius`` in ``image``'s dtype, normalised, applied by
            two 1-D convolutions on ``image``'s device (replicated borders only).
        border: ``"replicate"`` or ``"reflect"`` (:data:`BORDERS`).

    Returns:
        ``(N, C, H, W)``.
    """
    if border not in BORDERS or (radius is not None and border != "replicate"):
        raise ValueError(
            f"border {border!r} with radius {radius}: use one of {', '.join(BORDERS)} (replicate with a radius)"
        )
    if radius is not None:
        c = image.shape[1]
        x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
        k = torch.exp(-x * x / (2 * sigma * sigma))
        k = k / k.sum()
        out = F.pad(image, (radius, radius, radius, radius), mode="replicate")
        out = F.conv2d(out, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        return F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    x = image.detach().cpu()
    x = x if x.dtype == torch.float64 else x.float()
    out = []
    for one in x:
        arr = np.ascontiguousarray(one.permute(1, 2, 0).numpy())
        blurred = cv2.GaussianBlur(arr, (0, 0), sigma, borderType=BORDERS[border]).reshape(arr.shape)  # (H, W) for C=1
        out.append(torch.from_numpy(blurred).permute(2, 0, 1))
    return torch.stack(out).to(image)


def _luminance(guide: torch.Tensor) -> np.ndarray:
    """``(1, 3|1, H, W)`` to float64 luminance ``(H, W)`` (Rec. 601 weights)."""
    g = guide.detach().double().cpu()[0].numpy()
    if g.shape[0] == 3:
        return 0.299 * g[0] + 0.587 * g[1] + 0.114 * g[2]
    return g[0]


def wls_matrix(guide: torch.Tensor, lam: float = 1.0, alpha: float = 1.2, eps: float = 1e-4) -> sp.csc_matrix:
    """The sparse system ``I + lam * L_g`` of the WLS filter for a guide ``(1, 3|1, H, W)``.

    Smoothness weights are ``1 / (|d log-luminance|^alpha + eps)`` between 4-neighbours, as in
    Farbman et al.: strong smoothing on flat areas, little across edges of the guide.
    """
    lum = _luminance(guide)
    h, w = lum.shape
    log = np.log(np.clip(lum, 0, None) + 1e-4)
    n = h * w
    idx = np.arange(n).reshape(h, w)
    wx = lam / (np.abs(np.diff(log, axis=1)) ** alpha + eps)  # (h, w-1) between (y,x) and (y,x+1)
    wy = lam / (np.abs(np.diff(log, axis=0)) ** alpha + eps)  # (h-1, w)
    rows = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    cols = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    vals = np.concatenate([wx.ravel(), wy.ravel()])
    off = sp.coo_matrix((-vals, (rows, cols)), shape=(n, n))
    off = off + off.T
    diag = 1.0 - np.asarray(off.sum(axis=1)).ravel()
    return (off + sp.diags(diag)).tocsc()


def wls_filter(
    image: torch.Tensor, guide: torch.Tensor | None = None, *, lam: float = 1.0, alpha: float = 1.2, eps: float = 1e-4
) -> torch.Tensor:
    """Weighted-least-squares edge-preserving smoothing (Farbman et al. 2008).

    Solves ``(I + lam L_g) u = f`` per channel with one sparse LU factorisation (SuperLU).

    Args:
        image: ``(1, C, H, W)`` to smooth. guide: ``(1, 3|1, H, W)`` whose luminance edges are kept
            (default ``image`` itself when it has 1 or 3 channels).
        lam: smoothness (larger is flatter); alpha: edge sensitivity; eps: avoids division by zero.

    Returns:
        ``(1, C, H, W)`` float32.
    """
    if guide is None:
        guide = image
    if guide.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"guide {tuple(guide.shape)} and image {tuple(image.shape)} differ in size")
    solve = spla.factorized(wls_matrix(guide, lam, alpha, eps))
    f = image.detach().double().cpu()[0].numpy()
    out = np.stack([solve(ch.ravel()).reshape(ch.shape) for ch in f])
    return torch.from_numpy(out).float()[None].to(image.device)  # SciPy's sparse solve runs on the CPU


def guided_filter(image: torch.Tensor, guide: torch.Tensor, radius: int = 8, eps: float = 1e-3) -> torch.Tensor:
    """He et al.'s guided filter with a grey guide, box means by ``cv2.boxFilter``.

    Args:
        image: ``(1, C, H, W)``; guide: ``(1, 3|1, H, W)`` in [0, 1] (its luminance is used).
        radius: box radius in pixels; eps: regularisation (edge threshold, squared intensity).

    Returns:
        ``(1, C, H, W)`` float32: locally ``a * guide + b`` per channel.
    """
    g = _luminance(guide).astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    mg = box(g)
    vg = box(g * g) - mg * mg
    out = []
    for p in image.detach().float().cpu()[0].numpy():
        mp = box(p)
        a = (box(g * p) - mg * mp) / (vg + eps)
        b = mp - a * mg
        out.append(box(a) * g + box(b))
    return torch.from_numpy(np.stack(out))[None].to(image.device)  # OpenCV's box filter runs on the CPU
