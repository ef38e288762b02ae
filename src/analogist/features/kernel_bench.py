"""Micro-benchmarks of the fast-path candidates of each kind of operation, in GMAC/s on this machine.

Used by :mod:`analogist.features.precision`, which decides from these rates. Each kind times one
operation shaped like the methods' own (a 3x3 VGG convolution of 128 channels; a cosine product of
2688-channel hypercolumns) in every candidate precision and layout. A candidate that is very slow
here (a bfloat16 product on a CPU without bf16 instructions runs a reference kernel some 100x slower
than float32) is dropped after a tiny probe, so the whole measurement stays well under 2 s.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..matching.int8 import int8_product, quantise_rows

#: Candidates per kind, the safe default (float32, the default layout) first.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "conv": ("fp32", "fp32-cl", "bf16-cl"),  # network forward passes (no gradient)
    "conv-train": ("fp32", "fp32-cl", "bf16-cl"),  # forward and backward to the input (optimisations)
    "product": ("fp32", "bf16", "int8"),  # (n, C) @ (C, N) cosine products of nearest-neighbour searches
}
#: A candidate whose tiny-probe rate is below this fraction of float32's is not timed further.
PROBE_DROP = 0.67
#: ... and one whose first full-size call runs under this fraction of float32's first call.
FULL_DROP = 0.1
#: Timings of each probe, and timed rounds per kind (interleaved over the candidates, so a burst of
#: other load hits them all); after ``MIN_ROUNDS`` a kind stops adding rounds once ``BUDGET_S`` is spent.
PROBES, MIN_ROUNDS, ROUNDS, BUDGET_S = 2, 2, 5, 0.3

Op = Callable[[], object]


def _conv_ops(name: str, size: int, train: bool) -> tuple[Op, float]:
    """One 3x3 convolution 128 -> 128 (and ReLU) on ``(1, 128, size, size)`` in candidate ``name``:
    ``(op, MACs)``; with ``train`` forward and backward to the input (about twice the MACs)."""
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1)
    torch.nn.init.normal_(conv.weight, std=0.03, generator=gen)
    conv.requires_grad_(False)
    x = torch.rand(1, 128, size, size, generator=gen)
    if name != "fp32":
        dtype = torch.bfloat16 if name.startswith("bf16") else torch.float32
        conv = copy.deepcopy(conv).to(dtype).to(memory_format=torch.channels_last)
        x = x.to(dtype).contiguous(memory_format=torch.channels_last)
    macs = 128 * 128 * 9 * size * size * (2.0 if train else 1.0)
    if not train:

        def forward() -> object:
            with torch.no_grad():
                return F.relu(conv(x))

        return forward, macs
    x.requires_grad_(True)

    def step() -> object:
        y = F.relu(conv(x))
        return torch.autograd.grad(y.sum(), x)

    return step, macs


def _product_ops(name: str, rows: int, cols: int) -> tuple[Op, float]:
    """``(rows, 2688) @ (2688, cols)`` of unit vectors in candidate ``name``: ``(op, MACs)``."""
    gen = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(rows, 2688, generator=gen), dim=1)
    b = F.normalize(torch.randn(2688, cols, generator=gen), dim=0)
    macs = float(rows * 2688 * cols)
    if name == "int8":
        qa, qb = quantise_rows(a)[0], quantise_rows(b.T.contiguous())[0].T  # the layout of matching's keys
        return (lambda: int8_product(qa, qb)), macs
    if name == "bf16":
        a, b = a.bfloat16(), b.bfloat16()
    return (lambda: a @ b), macs


def _ops(kind: str, name: str, full: bool) -> tuple[Op, float]:
    """The probe (``full=False``, tiny) or the measured operation of one candidate."""
    if kind == "product":
        return _product_ops(name, 64, 768) if full else _product_ops(name, 16, 128)
    return _conv_ops(name, 32 if full else 12, kind == "conv-train")


def _seconds(op: Op) -> float:
    start = time.perf_counter()
    op()
    return time.perf_counter() - start


def measure_rates(kind: str, device: torch.device) -> dict[str, float]:
    """GMAC/s of every candidate of ``kind`` on ``device`` (the CPU; CUDA is decided by rule).

    A candidate that fails to run (a build without the kernel) gets rate 0, so it never wins.
    """
    if torch.device(device).type != "cpu":
        raise ValueError("kernel rates are measured on the CPU only")
    rates: dict[str, float] = {}
    ops: dict[str, tuple[Op, float]] = {}
    for name in CANDIDATES[kind]:
        try:
            probe, macs = _ops(kind, name, full=False)
            probe()  # first call: kernel creation and JIT, not timed
            rates[name] = macs / min(_seconds(probe) for _ in range(PROBES)) / 1e9
        except (RuntimeError, NotImplementedError):
            rates[name] = 0.0
    base = rates[CANDIDATES[kind][0]]
    first: dict[str, float] = {}
    for name in CANDIDATES[kind]:
        if rates[name] >= PROBE_DROP * base and rates[name] > 0:
            ops[name] = _ops(kind, name, full=True)
            first[name] = ops[name][1] / _seconds(ops[name][0]) / 1e9  # warm-up at the measured size
    # Tiny operations can pass the probe on a busy machine (a thread descheduled mid-call costs more
    # than the call), so the warm-up at full size drops a reference kernel before the rounds; its
    # threshold is lax because that first call also pays for creating the kernel.
    base_first = first.get(CANDIDATES[kind][0], 0.0)
    for name in list(ops)[1:]:
        if first[name] < FULL_DROP * base_first:
            rates[name] = first[name]
            del ops[name]
    times: dict[str, list[float]] = {name: [] for name in ops}
    start = time.perf_counter()
    for r in range(ROUNDS):
        if r >= MIN_ROUNDS and time.perf_counter() - start > BUDGET_S:
            break
        for name, (op, _) in ops.items():
            times[name].append(_seconds(op))
    for name, (_, macs) in ops.items():
        # the fastest round: other work on the machine only ever adds time, so the minimum is the
        # estimate it disturbs least (a median still moved 2x under a load of 8 on 2 cores)
        rates[name] = macs / min(times[name]) / 1e9
    return rates


__all__ = ["CANDIDATES", "measure_rates"]
