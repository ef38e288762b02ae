"""Neural Neighbor Style Transfer, feed-forward variant NNST-D (Kolkin et al. 2022, section 3.3).

The same targets as NNST-Opt (:mod:`.stylize`: zero-centred cosine nearest neighbours of the content's
hypercolumns among the style's and its rotations', coarse to fine over the scales, the query after the
first scale mixing the content with the previous output carrying the content's band), turned into
pixels by a trained :class:`~analogist.synthesis.decoder.Decoder` instead of an optimisation. At the
finest scale the output is fed back as the content ``params.feedback`` times (the paper's feature
splitting for NNST-D; the paper does it five times), then the colour post-processing of NNST-Opt.
The finest ``params.detail_bands`` bands are pasted from the matched style samples (:mod:`.detail`).

The decoder checkpoint is found like every weight file (:func:`find_decoder`): an explicit path,
``ANALOGIST_NNST_D_CHECKPOINT``, ``$ANALOGIST_WEIGHTS_DIR/nnst-d.pt``, then the bundled file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ...features import get_backbone
from ...features.hypercolumn import extractor_for, grid_size
from ...features.precision import product_dtype
from ...matching.hypercolumn import Keys, match
from ...progress import Progress, silent
from ...synthesis import pyramid
from ...synthesis.decoder import Decoder, DecoderConfig
from ...training import find_checkpoint, resolve_checkpoint
from ...training.checkpoint import load_trained
from .detail import paste_bands, style_banks
from .params import PADDING, StylizeParams
from .samples import finish, guide_at, mix, scale_styles

KIND = "nnst-d"
#: File name of the decoder checkpoint in ``$ANALOGIST_WEIGHTS_DIR`` and in the package.
FILENAME = "nnst-d.pt"


def find_decoder(explicit: str | os.PathLike | None = None) -> Path | None:
    """The decoder checkpoint that would be used, or ``None`` where there is none."""
    return find_checkpoint(KIND, FILENAME, explicit)


def load_decoder(path: str | os.PathLike | None = None, *, device: torch.device | str = "cpu") -> Decoder:
    """The decoder of a checkpoint (looked up as in :func:`find_decoder`), in float32 eval mode on
    ``device``; cached per file and device (:func:`~analogist.training.checkpoint.load_trained`), so the
    weights move to a device once.

    Raises:
        WeightsNotFoundError: no checkpoint anywhere. InputError: an unreadable or foreign file.
    """
    found = resolve_checkpoint(KIND, FILENAME, path)
    build = lambda state: {"decoder": Decoder(DecoderConfig(**state["config"]["decoder"]))}  # noqa: E731
    return load_trained(found, KIND, build, device=device, what="an NNST-D decoder").models["decoder"]


@torch.no_grad()
def stylize_decoder(
    content: torch.Tensor,
    style: torch.Tensor,
    params: StylizeParams,
    *,
    decoder: Decoder,
    content_guide: torch.Tensor | None = None,
    style_guide: torch.Tensor | None = None,
    progress: Progress = silent,
) -> torch.Tensor:
    """NNST-D on checked inputs (see :func:`analogist.methods.nnst.stylize`): ``(1, 3, H, W)`` in [0, 1]."""
    dev = content.device  # follows the inputs' device
    backbone = get_backbone(params.backbone, params.weights, device=dev)
    extractor = extractor_for(backbone, params.precision, "conv", padding=PADDING)
    key_dtype = product_dtype(params.precision, dev)
    generator = torch.Generator().manual_seed(params.seed)
    c_pyr = pyramid.build(content, params.levels)
    s_pyr = pyramid.build(style, params.levels)
    g_pyr = pyramid.build(style_guide, params.levels) if style_guide is not None else None
    out: torch.Tensor | None = None
    scales = list(reversed(range(params.scales)))
    for i, s in progress(list(enumerate(scales)), total=len(scales), desc="NNST-D scales"):
        content_s = pyramid.collapse(c_pyr[s:])
        size = content_s.shape[-2:]
        if out is None:
            query = content_s
        else:  # the previous output with the content's band at this scale, as NNST-Opt
            query = mix(c_pyr[s] + pyramid.resize(out, size), content_s, params)
        styles = scale_styles(extractor, s_pyr, g_pyr, s, params, generator)
        keys = Keys.build(styles.feats, styles.guide, dtype=key_dtype)
        # the decoder's first layer is per column: embed the style samples once, then gather the
        # embeddings of the matches (4x fewer columns than the target map at the finest scale)
        embedded = decoder.embed(styles.feats[None, :, None, :])[0, :, 0]  # (reduce, N)
        banks = style_banks(pyramid.collapse(s_pyr[s:]), styles.turns, styles.where, params.detail_bands)
        for _ in range(1 + (params.feedback if i == len(scales) - 1 else 0)):
            grid = grid_size(query)
            qguide = guide_at(content_guide, grid) if content_guide is not None else None
            rows = extractor.hyper_rows(query)  # (h*w, C): matched as (C, h*w) without a transposed copy
            idx = match(
                rows.T, keys, query_guide=qguide, w_cos=params.w_cos, w_guide=params.w_guide, chunk=params.chunk
            )
            x = embedded[:, idx].reshape(1, -1, *grid)
            bands = paste_bands(decoder.embedded_bands(x, tuple(size)), banks, idx, tuple(size))
            out = pyramid.collapse(bands).clamp(0.0, 1.0)
            query = out  # feature splitting: the output is the next pass's content
        del keys, embedded, banks
    assert out is not None
    return finish(out, content, style, params)


__all__ = ["KIND", "FILENAME", "find_decoder", "load_decoder", "stylize_decoder"]
