"""Optical flow between video frames, its occlusion mask, and the temporal warping error.

Flows follow :mod:`analogist.matching.flow`: ``(2, H, W)`` float32 ``(dx, dy)``; pixel ``p`` of the
first frame sits at ``p + flow[p]`` in the second. Frames are ``(1, 3, H, W)`` RGB in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ...matching.flow import flow_to_nnf
from ...synthesis.warp import sample

#: OpenCV DIS presets by name (medium: about 0.03 px error on a textured 3-px shift, 30 ms at 512 px).
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def gray(frame: torch.Tensor) -> np.ndarray:
    """Luminance of ``(1, 3, H, W)`` in [0, 1] as ``(H, W)`` uint8, the input DIS wants."""
    y = (frame[0].float() * frame.new_tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    return (y.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def dis_flow(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> torch.Tensor:
    """DIS optical flow (Kroeger et al. 2016, OpenCV) from gray ``a`` to gray ``b`` ``(H, W)`` uint8: ``(2, H, W)``."""
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    return torch.from_numpy(dis.calc(a, b, None)).permute(2, 0, 1).contiguous()


def consistent(flow_ab: torch.Tensor, flow_ba: torch.Tensor) -> torch.Tensor:
    """Pixels of A whose flow is confirmed by the reverse flow: bool ``(H, W)``.

    The forward-backward test of Sundaram et al. 2010 (used by Ruder et al. 2016 for video style
    transfer): ``|f(p) + b(p + f(p))|^2 <= 0.01 (|f(p)|^2 + |b(p + f(p))|^2) + 0.5``; pixels whose flow
    leaves the frame fail too. What fails is occluded in B, or the flow there is wrong.
    """
    h, w = flow_ab.shape[-2:]
    target = flow_to_nnf(flow_ab)
    back = sample(flow_ba[None], target)[0]
    err = (flow_ab + back).pow(2).sum(0)
    bound = 0.01 * (flow_ab.pow(2).sum(0) + back.pow(2).sum(0)) + 0.5
    inside = (target[0] >= 0) & (target[0] <= w - 1) & (target[1] >= 0) & (target[1] <= h - 1)
    return (err <= bound) & inside


def warping_error(frames: list[torch.Tensor], outputs: list[torch.Tensor], preset: str = "medium") -> float:
    """Temporal warping error of Lai et al. 2018 ("Learning Blind Video Temporal Consistency").

    For each consecutive pair, output ``t + 1`` is warped into frame ``t`` by the input's optical flow
    (DIS here, FlowNet2 in the paper) and the squared RGB difference (summed over channels, values in
    [0, 1]) is averaged over the pixels the forward-backward test keeps; the result is the mean over
    pairs. Lower is steadier. ``frames`` and ``outputs``: equal-length lists of ``(1, 3, H, W)``.
    """
    if len(frames) != len(outputs) or len(frames) < 2:
        raise ValueError("warping_error needs two equally long lists of at least two frames")
    errs = []
    for t in range(len(frames) - 1):
        ga, gb = gray(frames[t]), gray(frames[t + 1])
        f, b = dis_flow(ga, gb, preset), dis_flow(gb, ga, preset)
        mask = consistent(f, b).float()
        warped = sample(outputs[t + 1].float(), flow_to_nnf(f))
        diff = (outputs[t].float() - warped).pow(2).sum(1)[0]
        errs.append(float((diff * mask).sum() / mask.sum().clamp_min(1)))
    return float(np.mean(errs))


__all__ = ["DIS_PRESETS", "consistent", "dis_flow", "gray", "warping_error"]
