"""Deep Image Analogy (Liao, Yao, Yuan, Hua, Kang; SIGGRAPH 2017).

:mod:`.params` holds the parameters and the result, :mod:`.core` Algorithm 1: coarse-to-fine
bidirectional NNF search over a VGG pyramid and latent reconstruction one level down.
"""

from __future__ import annotations

from .core import deep_image_analogy, refine_photo, weight_map
from .params import MODE_OFFSETS, AnalogyParams, AnalogyResult, Mode

__all__ = ["MODE_OFFSETS", "AnalogyParams", "AnalogyResult", "Mode", "deep_image_analogy", "refine_photo", "weight_map"]
