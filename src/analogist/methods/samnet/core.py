"""Semantic Attribute Matching Networks (Kim, Min, Jeong, Kim, Jeon, Sohn; CVPR 2019), section 4.

Matching and attribute transfer improve each other in a recurrent loop (Eq. 5-10): the source is
matched against the target through a dense field of local affine transforms, the target's attributes
are blended into the source's features along that field (neural patch blending), the blend is decoded
into the attribute-transferred image, whose features take a growing share of the next matching
(``lambda_l = 1 - exp(-l)``).

This module holds the loop; the math lives in :mod:`analogist.matching.affine_field` (correlation,
soft-argmax, the training-free G) and :mod:`analogist.synthesis.blend` (Eq. 8-9). The training-free
form fits G by confidence-weighted local least squares and decodes by feature inversion
(:func:`analogist.synthesis.deconv.deconvolve`, warm-started from the previous iteration's image).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InputError
from ...features import INPUT, Backbone, get_backbone
from ...io import check_image, resize_longer
from ...matching.affine_field import (
    field_targets,
    field_to_flow,
    identity_field,
    l2_normalize_window,
    self_window,
    soft_argmax,
    window_correlation,
)
from ...progress import Progress, silent
from ...synthesis.blend import image_blend, patch_blend
from ...synthesis.deconv import deconvolve
from ...synthesis.pyramid import resize
from ...synthesis.warp import backward_warp
from .fold_fit import fold_aware_fit, fold_aware_update
from .params import SAMNetParams
from .refine import refine_spec, refine_step
from .render import render
from .start import buddies_field
from .transfer import skip_layers


@dataclass
class SAMNetIteration:
    """One recurrent iteration: ``stylised (1, 3, H, W)``, ``flow (2, H, W)``, ``confidence (H, W)``."""

    lam: float
    stylised: torch.Tensor
    flow: torch.Tensor
    confidence: torch.Tensor


@dataclass
class SAMNetResult:
    """Outputs of :func:`sam_net` at the source's input size ``(H, W)``.

    field: ``(6, h, w)`` affine transforms on the source feature grid (see
    :mod:`analogist.matching.affine_field`, target-grid units); flow: ``(2, H, W)`` source -> target
    pixels; loop_stylised: ``(1, 3, H, W)`` the loop's last decoded image; warped: ``(1, 3, H, W)``
    the target pulled onto the source; confidence: ``(H, W)`` in [0, 1]; iterations: per iteration
    when asked; timings: seconds per stage; form: which form ran; grid_t: ``(ht, wt)`` the target feature
    grid the field maps into; cell_confidence: ``(h, w)`` the confidence per source cell; renderer: draws
    :attr:`stylised` on first use (:mod:`.render`), so callers that want only the field never pay for it.
    """

    field: torch.Tensor
    flow: torch.Tensor
    loop_stylised: torch.Tensor
    warped: torch.Tensor
    confidence: torch.Tensor
    iterations: list[SAMNetIteration] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    form: str = "training-free"
    grid_t: tuple[int, int] = (0, 0)
    cell_confidence: torch.Tensor | None = None
    renderer: Callable[[], torch.Tensor] | None = field(default=None, repr=False, compare=False)
    _rendered: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def stylised(self) -> torch.Tensor:
        """``(1, 3, H, W)`` the source with the target's attributes (``params.render``; the loop's image
        with ``"loop"``), drawn on first use; its seconds join ``timings["render"]``."""
        if self.renderer is None:
            return self.loop_stylised
        if self._rendered is None:
            t = time.perf_counter()
            out = resize(self.renderer(), tuple(self.flow.shape[-2:])).clamp(0, 1)
            self._rendered = out.to(self.flow.device)
            self.timings["render"] = time.perf_counter() - t
        return self._rendered


def lambda_schedule(step: int) -> float:
    """``lambda_l = 1 - exp(-l)``, the attribute share at iteration ``l >= 1`` (0 at ``l = 0``)."""
    return 1.0 - math.exp(-step)


def invert(net: Backbone, layer: str, target: torch.Tensor, init: torch.Tensor, iters: int) -> torch.Tensor:
    """Training-free decoder: the image ``(1, 3, H, W)`` in [0, 1] whose ``layer`` features approach
    ``target`` ``(1, C, h, w)``, by feature inversion warm-started at the image ``init``."""
    x = deconvolve(net.subnet(INPUT, layer), target, net.preprocess(init), iters)
    return net.deprocess(x).clamp(0, 1)


def _upsample(conf: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(conf[None, None], size=size, mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)


def resolve_form(params: SAMNetParams) -> str:
    """The form that runs: ``auto`` is the learned form where a checkpoint trained on the backbone and
    layer in use is found (it measures better: docs/benchmarks.md), the training-free one otherwise."""
    if params.form != "auto":
        return params.form
    from .learned import learned_fits

    return "learned" if learned_fits(params.checkpoint, params.backbone, params.layer) else "training-free"


def sam_net(
    source: torch.Tensor, target: torch.Tensor, params: SAMNetParams | None = None, *, progress: Progress = silent
) -> SAMNetResult:
    """SAM-Net between ``source`` ``(1, 3, Hs, Ws)`` and ``target`` ``(1, 3, Ht, Wt)``, RGB in [0, 1].

    Returns the affine field, the dense flow source -> target, the stylised source, the warped target
    and the confidence (see :class:`SAMNetResult`); ``params`` defaults to ``SAMNetParams()``.
    """
    params = params or SAMNetParams()
    form = resolve_form(params)
    t0 = time.perf_counter()
    g_net = dec_net = None
    if form == "learned" or params.transfer == "learned":
        from .learned import learned_parts, residual_to_global

        # auto: the learned form decodes with its checkpoint's decoder where it has one (checkpoints from
        # before the decoder blend in image space)
        want_decoder = True if params.transfer == "learned" else (None if params.transfer == "auto" else False)
        # cached per checkpoint and device: loaded on the inputs' device, never moved (a shared copy)
        g_net, dec_net, radius_g = learned_parts(
            params.checkpoint,
            params.backbone,
            params.layer,
            matching=form == "learned",
            decoder=want_decoder,
            device=source.device,
        )
    timings: dict[str, float] = {"features": 0.0, "match": 0.0, "blend": 0.0, "decode": 0.0}
    check_image(source, "source", min_side=16)
    check_image(target, "target", min_side=16)
    full_s, full_t = source.float().clamp(0, 1), target.float().clamp(0, 1)
    a, b = resize_longer(full_s, params.size), resize_longer(full_t, params.size)
    net = get_backbone(params.backbone, params.weights, device=source.device)  # follows the inputs' device
    if params.layer not in net.names:
        raise InputError(f"backbone {net.name} has no layer {params.layer!r}; layers: {', '.join(net.names)}")
    skip_names = skip_layers(params.backbone, params.layer) if dec_net is not None else ()
    fine_layers = refine_spec(params.refine, params.backbone)
    fine_names = [name for name, _ in fine_layers]
    for name in fine_names:
        if name not in net.names:
            raise InputError(f"backbone {net.name} has no layer {name!r} to refine on: see SAMNetParams.refine")
    feats_s = net.extract(a, list(dict.fromkeys([params.layer, *skip_names, *fine_names])))  # one pass
    fs, skips = feats_s[params.layer], [feats_s[n] for n in skip_names]
    feats_t = net.extract(b, list(dict.fromkeys([params.layer, *fine_names])))
    ft = feats_t[params.layer]
    timings["features"] += time.perf_counter() - t0
    grid_s, grid_t = tuple(fs.shape[-2:]), tuple(ft.shape[-2:])
    size_s, size_t = tuple(full_s.shape[-2:]), tuple(full_t.shape[-2:])
    radius = params.window // 2

    if params.init == "buddies":
        t = time.perf_counter()
        aff = buddies_field(
            a,
            b,
            grid_s,
            grid_t,
            backbone=params.backbone,
            weights=params.weights,
            radius=params.fit_radius,
            ridge=params.ridge,
            kind=params.start_kind,
            fold_rounds=params.fold_rounds,
        )
        timings["init"] = time.perf_counter() - t
    else:
        aff = identity_field(grid_s, grid_t, like=fs)
    # each G's answer to a perfect match, subtracted so that identical images stay at the identity
    if g_net is not None:
        g_bias = g_net(self_window(fs, radius_g)[None])[0]
    else:
        bias = _self_bias(fs, grid_t, radius, params)
    conf = fs.new_zeros(grid_s)
    stylised, f_styl = a, fs
    iterations: list[SAMNetIteration] = []
    for step in progress(range(1, params.iters + 1), total=params.iters, desc="sam-net"):
        lam = lambda_schedule(step) * params.lambda_scale if params.attribute else 0.0
        t = time.perf_counter()
        centres = field_targets(aff)
        corr = window_correlation(fs, ft, centres, radius)
        if lam > 0:
            corr = (1 - lam) * corr + lam * window_correlation(f_styl, ft, centres, radius)
        disp, conf, _ = soft_argmax(l2_normalize_window(corr), radius, params.beta, params.kernel_sigma)
        if g_net is not None:
            # learned G (Fig. 3): the residual field straight from the correlation
            c_g = corr if radius_g == radius else window_correlation(fs, ft, centres, radius_g)
            new = aff + residual_to_global(g_net(l2_normalize_window(c_g)[None])[0] - g_bias)
            aff = fold_aware_update(new, aff, params.fold_rounds)  # where G's field folds, the previous one
        else:
            # training-free G (Eq. 6-7): local affine transforms explaining the moved matches
            # where the new fit folds it leans on the previous field (fold_fit)
            r, ridge = params.fit_radius, params.ridge
            aff = fold_aware_fit(centres + disp - bias, conf, centres, r, ridge, aff, params.fold_rounds)
        timings["match"] += time.perf_counter() - t
        if params.attribute:
            t = time.perf_counter()
            blended = patch_blend(fs, ft, aff, conf, lam)
            timings["blend"] += time.perf_counter() - t
            t = time.perf_counter()
            if dec_net is not None:
                with torch.no_grad():
                    stylised = dec_net(blended, skips, tuple(a.shape[-2:]), weight=params.skip_weight)
            else:
                flow_w = field_to_flow(aff, grid_t, tuple(a.shape[-2:]), tuple(b.shape[-2:]))
                warm = image_blend(a, backward_warp(b, flow_w), lam, grid_s)
                stylised = invert(net, params.layer, blended, warm, params.invert_iters)
            timings["decode"] += time.perf_counter() - t
            t = time.perf_counter()
            f_styl = net.extract(stylised, [params.layer])[params.layer]
            timings["features"] += time.perf_counter() - t
        if params.keep_iterations:
            flow = field_to_flow(aff, grid_t, size_s, size_t)
            iterations.append(SAMNetIteration(lam, resize(stylised, size_s).clamp(0, 1), flow, _upsample(conf, size_s)))

    if fine_names:
        t = time.perf_counter()
        aff, conf, grid_t = refine_step(aff, grid_t, feats_s, feats_t, fine_layers, params)
        timings["refine"] = time.perf_counter() - t
    t = time.perf_counter()
    flow = field_to_flow(aff, grid_t, size_s, size_t)
    warped = backward_warp(full_t, flow).clamp(0, 1)
    timings["outputs"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    renderer = None
    if params.attribute and params.render != "loop":  # the returned image: NNST along the field (.render)
        learned = params.render == "nnst-d"
        renderer = partial(render, a, b, flow, size_t, warped, params, learned=learned, progress=progress)
    return SAMNetResult(
        aff,
        flow,
        resize(stylised, size_s).clamp(0, 1),
        warped,
        _upsample(conf, size_s),
        iterations,
        timings,
        form,
        grid_t,
        conf,
        renderer,
    )


def _self_bias(fs: torch.Tensor, grid_t: tuple[int, int], radius: int, params: SAMNetParams) -> torch.Tensor:
    """The soft-argmax of the source against itself ``(2, h, w)`` in target cells.

    A correlation peak is rarely symmetric (a cell resembles its neighbour on one side more than on the
    other), so the soft-argmax of even a perfect match is pulled off the peak; subtracting the pull the
    source shows against itself removes this bias to first order and keeps identical images exactly at
    the identity.
    """
    h, w = fs.shape[-2:]
    bias, _, _ = soft_argmax(self_window(fs, radius), radius, params.beta, params.kernel_sigma)
    return bias * torch.tensor([grid_t[1] / w, grid_t[0] / h], dtype=fs.dtype, device=fs.device)[:, None, None]


def transfer_mask(labels: np.ndarray, flow: torch.Tensor) -> np.ndarray:
    """Warp a label image of the target onto the source (the paper's mask transfer).

    Args:
        labels: ``(Ht, Wt)`` or ``(Ht, Wt, C)`` label values of any dtype (never blended).
        flow: ``(2, H, W)`` source -> target pixel flow.

    Returns:
        ``(H, W[, C])`` of ``labels``' dtype: each source pixel takes the label of its nearest target pixel.
    """
    arr = np.asarray(labels)
    ht, wt = arr.shape[:2]
    f = flow.detach().cpu().double().numpy()
    h, w = f.shape[-2:]
    ys, xs = np.mgrid[0:h, 0:w]
    tx = np.clip(np.rint(xs + f[0]), 0, wt - 1).astype(np.intp)
    ty = np.clip(np.rint(ys + f[1]), 0, ht - 1).astype(np.intp)
    return arr[ty, tx]
