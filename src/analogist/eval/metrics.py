"""Correspondence metrics: TSS flow accuracy and PCK, with their normalisations.

Pure functions on arrays/tensors; nothing here reads files.

Conventions: a flow ``(2, H, W)`` holds ``(dx, dy)`` in pixels of the images it was computed on
(source pixel ``p`` corresponds to target pixel ``p + flow[p]``); keypoints are ``(N, 2)`` arrays of
``(x, y)`` pixel coordinates.
"""

from __future__ import annotations

import numpy as np
import torch

#: Ground-truth flow vectors larger than this (TSS and Middlebury store ~1e10) mean "unknown".
UNKNOWN_FLOW = 1e9

ArrayLike = torch.Tensor | np.ndarray


def _np(x: ArrayLike, dtype: type = np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def valid_flow(flow: ArrayLike) -> np.ndarray:
    """Boolean ``(H, W)``: where a ground-truth flow ``(2, H, W)`` is known (finite and < 1e9)."""
    f = _np(flow)
    with np.errstate(invalid="ignore"):
        return np.isfinite(f).all(0) & (np.abs(f) < UNKNOWN_FLOW).all(0)


def flow_to_size(
    flow: ArrayLike, size: tuple[int, int], target_scale: tuple[float, float] | None = None
) -> torch.Tensor:
    """Bring a flow ``(2, h, w)`` computed on resized images to another grid ``(2, H, W)``.

    This is how every benchmark here compares a flow computed on resized images with a ground truth
    at the files' resolution, and how the ``nn`` matcher upsamples its feature-grid field. Pixel
    centres are aligned: source pixel ``X`` sits at ``x = (X + 0.5) / s - 0.5``, and a target at ``t``
    moves to ``(t + 0.5) * st - 0.5``, so the new displacement is
    ``(X + 0.5) * (st / s - 1) + st * d(x)`` with ``d`` read bilinearly.

    The *displacements* are interpolated (not the absolute coordinates as
    :func:`analogist.matching.flow.resize_flow` does): beyond the outermost centres bilinear
    interpolation holds the edge value, which for displacements keeps a constant flow constant up
    to the border, whereas clamped coordinates bend it by up to half an input pixel there.

    Args:
        size: ``(H, W)`` of the new source grid.
        target_scale: ``(sx, sy)`` from the target image the matcher saw to the new target image;
            default: the source's factors (both images resized alike).
    """
    f = flow if isinstance(flow, torch.Tensor) else torch.from_numpy(np.asarray(flow, dtype=np.float32))
    f = f.float()
    h, w = f.shape[-2:]
    H, W = size
    sx, sy = W / w, H / h
    tx, ty = target_scale if target_scale is not None else (sx, sy)
    if (h, w) == (H, W) and (tx, ty) == (1.0, 1.0):
        return f
    d = torch.nn.functional.interpolate(f[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    xs = torch.arange(W, dtype=torch.float32)[None, :] + 0.5
    ys = torch.arange(H, dtype=torch.float32)[:, None] + 0.5
    return torch.stack([xs * (tx / sx - 1.0) + tx * d[0], ys * (ty / sy - 1.0) + ty * d[1]])


def endpoint_error(flow_est: ArrayLike, flow_gt: ArrayLike) -> np.ndarray:
    """Per-pixel endpoint error ``(H, W)`` between two flows ``(2, H, W)`` on the same grid."""
    a, b = _np(flow_est), _np(flow_gt)
    if a.shape != b.shape or a.ndim != 3 or a.shape[0] != 2:
        raise ValueError(f"flows must both be (2, H, W), got {a.shape} and {b.shape}")
    return np.hypot(a[0] - b[0], a[1] - b[1])


def flow_accuracy(
    flow_est: ArrayLike,
    flow_gt: ArrayLike,
    mask: ArrayLike,
    *,
    threshold: float = 5.0,
    longer_side: int = 100,
    target_size: tuple[int, int] | None = None,
) -> float:
    """The TSS flow accuracy (Taniai et al., CVPR 2016).

    Share of foreground pixels with known ground truth whose endpoint error is at most ``threshold``
    pixels once the images are rescaled so that their longer side is ``longer_side`` pixels.

    The rescaling is done without resampling: errors are measured at every pixel of the ground-truth
    grid and multiplied by ``longer_side / max(H_t, W_t)`` of the *target* image (flow vectors live
    there). This equals scoring on 100-px images up to the choice of sample positions, and avoids
    interpolating across the 1e10 "unknown" markers.

    Args:
        flow_est: ``(2, H, W)`` estimate on the ground truth's grid (see :func:`flow_to_size`).
        flow_gt: ``(2, H, W)``; vectors > 1e9 or non-finite are unknown and ignored.
        mask: ``(H, W)`` foreground of the source image (nonzero = foreground).
        target_size: ``(H_t, W_t)`` of the target image; defaults to ``(H, W)``.

    Returns:
        Accuracy in [0, 1]; NaN if no pixel is both foreground and known.
    """
    gt = _np(flow_gt)
    m = _np(mask, dtype=bool) if not isinstance(mask, np.ndarray) or mask.dtype != bool else mask
    if m.shape != gt.shape[-2:]:
        raise ValueError(f"mask {m.shape} does not match the flow grid {gt.shape[-2:]}")
    est = _np(flow_est)
    if est.shape != gt.shape:
        raise ValueError(f"estimate {est.shape} is not on the ground truth's grid {gt.shape}: use flow_to_size")
    sel = m & valid_flow(gt)
    n = int(sel.sum())
    if n == 0:
        return float("nan")
    th, tw = target_size if target_size is not None else gt.shape[-2:]
    scale = longer_side / max(th, tw)
    err = np.hypot(est[0][sel] - gt[0][sel], est[1][sel] - gt[1][sel]) * scale
    # a NaN estimate is simply wrong, never right
    return float(np.count_nonzero(err <= threshold) / n)


# ------------------------------------------------------------------------------------------------- PCK


def pck(pred: ArrayLike, gt: ArrayLike, threshold: float | ArrayLike) -> float:
    """Percentage of correct keypoints: share of ``pred`` ``(N, 2)`` within ``threshold`` pixels of ``gt``.

    ``threshold`` is a scalar or one value per keypoint ``(N,)``. NaN predictions count as wrong.
    Returns NaN for ``N == 0``.
    """
    p, g = _np(pred).reshape(-1, 2), _np(gt).reshape(-1, 2)
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} differ")
    if len(p) == 0:
        return float("nan")
    d = np.hypot(p[:, 0] - g[:, 0], p[:, 1] - g[:, 1])
    return float(np.count_nonzero(d <= _np(threshold)) / len(p))


#: What each PCK normalisation means, written beside every figure (eval's table and JSON).
PCK_NORM_TEXT = {
    "bbox": "threshold alpha x max(h, w) of the target keypoints' bounding box (SPair's box where annotated)",
    "image": "threshold alpha x max(H, W) of the target image",
}


def image_threshold(alpha: float, size: tuple[int, int]) -> float:
    """PCK threshold ``alpha * max(H, W)`` of an image ``size = (H, W)`` (PF-PASCAL convention)."""
    return float(alpha * max(size))


def bbox_threshold(alpha: float, bbox: ArrayLike) -> float:
    """PCK threshold ``alpha * max(w, h)`` of a box ``(x1, y1, x2, y2)`` (SPair-71k convention)."""
    x1, y1, x2, y2 = _np(bbox).reshape(4)
    return float(alpha * max(x2 - x1, y2 - y1))


def keypoint_bbox(points: ArrayLike) -> np.ndarray:
    """Tight box ``(x1, y1, x2, y2)`` around keypoints ``(N, 2)`` (PF-WILLOW/PF-PASCAL's bbox norm)."""
    p = _np(points).reshape(-1, 2)
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


def transfer_keypoints(flow: ArrayLike, points: ArrayLike) -> np.ndarray:
    """Move source keypoints ``(N, 2)`` through a flow ``(2, H, W)``: ``p + flow(p)``, read bilinearly.

    Points are clamped to the grid before reading (annotations may sit on the last pixel's edge).
    """
    f = flow if isinstance(flow, torch.Tensor) else torch.from_numpy(np.asarray(flow, dtype=np.float32))
    p = torch.as_tensor(_np(points), dtype=torch.float32).reshape(-1, 2)
    if len(p) == 0:
        return np.zeros((0, 2))
    h, w = f.shape[-2:]
    q = torch.stack([p[:, 0].clamp(0, w - 1), p[:, 1].clamp(0, h - 1)], 1)
    grid = torch.stack([q[:, 0] * (2.0 / max(w - 1, 1)) - 1.0, q[:, 1] * (2.0 / max(h - 1, 1)) - 1.0], 1)
    vec = torch.nn.functional.grid_sample(f.float()[None], grid.view(1, 1, -1, 2), mode="bilinear", align_corners=True)[
        0, :, 0
    ].T
    return (p + vec).double().numpy()


__all__ = [
    "UNKNOWN_FLOW",
    "valid_flow",
    "flow_to_size",
    "endpoint_error",
    "flow_accuracy",
    "pck",
    "PCK_NORM_TEXT",
    "image_threshold",
    "bbox_threshold",
    "keypoint_bbox",
    "transfer_keypoints",
]
