"""Cosine products in int8, for nearest-neighbour searches over thousands of 2688-channel vectors.

On a CPU with AVX512-VNNI an int8 product is about 3x faster than float32 (a (2048, 2688) @
(2688, 4096) product, one thread); on one without it torch runs a plain loop over 100x slower than
float32. So it is used only where :mod:`analogist.features.precision` measured it faster. Each unit vector is
stored as int8 times its own scale (largest component to 127); the argmax of the products picks the
float32 nearest neighbour or one whose cosine is within the quantisation error of it
(``tests/matching/test_hypercolumn_int8.py`` measures both on VGG16 hypercolumns).
"""

from __future__ import annotations

import torch


def quantise_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``(n, C)`` float as ``(int8 (n, C), scales (n,) float32)`` with ``x ~ int8 * scale``."""
    scale = x.abs().amax(dim=1).float().clamp_min_(1e-12) / 127.0
    return (x / scale[:, None]).round_().to(torch.int8), scale


def int8_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` of int8 ``(n, C)`` and ``(C, N)`` as float32 ``(n, N)``.

    ``torch._int_mm`` (oneDNN's VNNI kernel) on a CPU; elsewhere, or where this torch lacks it, the
    same product in float32 (exact below 2**24, which 2688 channels of 127 * 127 exceed only for
    near-identical vectors, where rounding cannot change the argmax by more than it).
    """
    if a.device.type == "cpu" and hasattr(torch, "_int_mm"):
        try:
            return torch._int_mm(a, b).float()
        except RuntimeError:  # a build without the kernel
            pass
    return a.float() @ b.float()


__all__ = ["quantise_rows", "int8_product"]
