"""Which precision and layout each kind of operation runs in, chosen by measuring the running machine.

Kinds (:data:`~analogist.features.kernel_bench.CANDIDATES`): ``conv`` (network forward passes),
``conv-train`` (forward and backward, the optimisations of NNST and COAT) and ``product`` (the cosine
products of nearest-neighbour searches). Their fast paths (bfloat16, int8, channels-last) are several
times faster than float32 on some CPUs and over 100x slower on others (oneDNN falls back to a reference
kernel where the instructions are missing), so no CPU class is assumed: the first time a kind is needed
its candidates are timed (:func:`~analogist.features.kernel_bench.measure_rates`, well under 2 s for
all kinds) and the rates are kept in ``kernels.json`` in the user's cache folder (:func:`cache_dir`),
keyed by everything that changes them (:func:`machine_key`), so later runs pay nothing.

A candidate replaces float32 only when it is at least :data:`MARGIN` times as fast. ``precision="auto"``
asks for that choice; ``"fp32"``, ``"bf16"`` or ``"int8"`` (a method's parameter, else the
``ANALOGIST_PRECISION`` environment variable) forces the dtype of every kind that has it (the others
run float32), the layout still measured. On CUDA the known rule decides: bfloat16 from compute
capability 8 (Ampere), float32 before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError
from ..threads import cores
from .kernel_bench import CANDIDATES, measure_rates

#: How many times as fast as float32 a candidate must measure to be chosen (timing noise on a busy
#: machine stays well inside it, and a path that wins by less is not worth its rounding).
MARGIN = 1.2
PRECISIONS = ("auto", "fp32", "bf16", "int8")
ENV_PRECISION = "ANALOGIST_PRECISION"
#: Cached rates are measured again when this changes (a new candidate, a different probe).
VERSION = 1
#: Rates measured while the load average is over this many times the cores are not written to the
#: cache: other work then decides the timings (on 2 cores at load 8 one candidate measured 2x-9x off),
#: and a wrong choice cached would stay; they serve the one process and a quieter run measures again.
BUSY_LOAD = 1.5

_log = logging.getLogger("analogist")
Measure = Callable[[str, torch.device], dict[str, float]]


@dataclass(frozen=True)
class KernelPath:
    """The path one kind of operation takes: ``name`` is a candidate (``"fp32"``, ``"fp32-cl"``,
    ``"bf16-cl"``, ``"bf16"``, ``"int8"``); ``reason`` says how it was chosen."""

    kind: str
    name: str
    reason: str

    @property
    def precision(self) -> str:
        return self.name.split("-")[0]

    @property
    def dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.int8}[self.precision]

    @property
    def channels_last(self) -> bool:
        return self.name.endswith("-cl")


def cache_dir() -> Path:
    """``$ANALOGIST_CACHE_DIR``, else ``$XDG_CACHE_HOME/analogist``, else ``~/.cache/analogist``."""
    explicit = os.environ.get("ANALOGIST_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "analogist"


def _cpu_model_and_flags() -> tuple[str, str]:
    """The CPU's model name and instruction-set flags (``/proc/cpuinfo`` on Linux, else ``platform``)."""
    found: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                found.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    model = found.get("model name") or found.get("hardware") or platform.processor() or platform.machine()
    flags = found.get("flags") or found.get("features") or ""
    return model, " ".join(sorted(flags.split()))


def machine_key(device: torch.device | str = "cpu") -> dict[str, str]:
    """Everything the measured rates depend on: device, CPU model and instruction sets (including the
    ones oneDNN and ATen are told to use), torch version and thread count."""
    device = torch.device(device)
    model, flags = _cpu_model_and_flags()
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    return {
        "version": str(VERSION),
        "device": device.type,
        "cpu": model,
        "flags": hashlib.sha1(flags.encode()).hexdigest()[:16],
        "aten_isa": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_isa": isa,
        "mkldnn": str(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
    }


def machine_busy() -> bool:
    """Whether other work loads the CPU too much for timings to be trusted (see :data:`BUSY_LOAD`)."""
    try:
        return os.getloadavg()[0] > BUSY_LOAD * cores()
    except (AttributeError, OSError):  # no load average (Windows): trust the timings
        return False


def _digest(key: dict[str, str]) -> str:
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


class KernelChoice:
    """Rates per kind (memory, then the disk cache, then measured) and the path chosen from them.

    ``measure`` (default :func:`measure_rates`), ``busy`` (default :func:`machine_busy`) and
    ``cache_path`` (default ``cache_dir()/kernels.json``; ``None`` where it should stay in memory) can be
    replaced, so tests inject timings.
    """

    def __init__(
        self,
        cache_path: Path | None | str = "default",
        measure: Measure = measure_rates,
        margin: float = MARGIN,
        busy: Callable[[], bool] = machine_busy,
    ) -> None:
        self.cache_path = cache_dir() / "kernels.json" if cache_path == "default" else cache_path
        self.measure, self.margin, self.busy = measure, margin, busy
        self._memo: dict[tuple[str, str], dict[str, float]] = {}
        self._lock = threading.Lock()

    def _read(self) -> dict:
        if self.cache_path is None:
            return {}
        try:
            data = json.loads(Path(self.cache_path).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}  # absent or unreadable: measured again and rewritten

    def _write(self, digest: str, key: dict[str, str], kind: str, rates: dict[str, float]) -> None:
        if self.cache_path is None:
            return
        path = Path(self.cache_path)
        data = self._read()
        entry = data.setdefault(digest, {"key": key, "rates": {}})
        entry["rates"][kind] = {k: round(v, 3) for k, v in rates.items()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)  # whole file or nothing, also with several processes writing
        except OSError as exc:  # a read-only home: the choice still holds for this process
            _log.debug(f"kernel rates not cached ({exc})")

    def rates(self, kind: str, device: torch.device | str = "cpu") -> dict[str, float]:
        """GMAC/s per candidate of ``kind`` on the CPU: remembered, read from the cache, or measured."""
        if kind not in CANDIDATES:
            raise ValueError(f"unknown kind {kind!r}: one of {', '.join(CANDIDATES)}")
        key = machine_key(device)
        digest = _digest(key)
        with self._lock:
            if (digest, kind) not in self._memo:
                cached = self._read().get(digest, {}).get("rates", {}).get(kind)
                if not isinstance(cached, dict) or set(cached) != set(CANDIDATES[kind]):
                    start = time.perf_counter()
                    cached = self.measure(kind, torch.device(device))
                    _log.debug(f"kernels: measured {kind} in {time.perf_counter() - start:.2f} s")
                    if self.busy():
                        _log.debug("kernels: the machine is busy, so these rates serve this process only")
                    else:
                        self._write(digest, key, kind, cached)
                self._memo[(digest, kind)] = {k: float(v) for k, v in cached.items()}
            return self._memo[(digest, kind)]

    def choose(
        self,
        kind: str,
        precision: str = "auto",
        device: torch.device | str = "cpu",
        *,
        allowed: Sequence[str] | None = None,
    ) -> KernelPath:
        """The path ``kind`` takes under ``precision`` on ``device``, among ``allowed`` precisions."""
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        reason = f"precision={precision}"
        if precision == "auto":
            env = os.environ.get(ENV_PRECISION, "").strip().lower()
            if env and env not in PRECISIONS:
                raise InputError(f"{ENV_PRECISION} must be one of {', '.join(PRECISIONS)}, got {env!r}")
            if env and env != "auto":
                precision, reason = env, f"{ENV_PRECISION}={env}"
        names = [n for n in CANDIDATES[kind] if allowed is None or n.split("-")[0] in allowed]
        if precision != "auto":  # forced: that dtype where the kind has it, float32 elsewhere
            wanted = precision if any(n.split("-")[0] == precision for n in names) else "fp32"
            names = [n for n in names if n.split("-")[0] == wanted]
        device = torch.device(device)
        if device.type == "cuda":
            path = _cuda_rule(kind, names, device, reason)
        else:
            rates = self.rates(kind, device)
            best = names[0]  # float32 (or the forced dtype) in the default layout unless beaten
            for name in names[1:]:
                if rates[name] >= self.margin * rates[best] and rates[name] > 0:
                    best = name
            shown = ", ".join(f"{n} {rates[n]:.1f}" for n in names)
            path = KernelPath(kind, best, f"{reason}; measured GMAC/s: {shown}")
        _log.debug(f"kernels: {kind} runs {path.name} ({path.reason})")
        return path


def _cuda_rule(kind: str, names: list[str], device: torch.device, reason: str) -> KernelPath:
    """bfloat16 (channels-last for convolutions) from compute capability 8, float32 before."""
    major, minor = torch.cuda.get_device_capability(device)
    bf16 = [n for n in names if n.startswith("bf16")]
    name = bf16[0] if bf16 and (major >= 8 or len(bf16) == len(names)) else names[0]
    return KernelPath(kind, name, f"{reason}; CUDA rule (compute capability {major}.{minor})")


_DEFAULT: list[KernelChoice] = []  # the process's chooser, made on first use; see reset()


def default_choice() -> KernelChoice:
    """The process's :class:`KernelChoice` (made on first use, with the user's cache folder)."""
    if not _DEFAULT:
        _DEFAULT.append(KernelChoice())
    return _DEFAULT[0]


def reset(choice: KernelChoice | None = None) -> None:
    """Forget the process's chooser (next use reads the cache folder again), or install ``choice``."""
    _DEFAULT.clear()
    if choice is not None:
        _DEFAULT.append(choice)


def choose(
    kind: str, precision: str = "auto", device: torch.device | str = "cpu", *, allowed: Sequence[str] | None = None
) -> KernelPath:
    """:meth:`KernelChoice.choose` of :func:`default_choice`."""
    return default_choice().choose(kind, precision, device, allowed=allowed)


def product_dtype(
    precision: str, device: torch.device | str, allowed: tuple[str, ...] = ("fp32", "bf16", "int8")
) -> torch.dtype:
    """dtype of the nearest-neighbour products on ``device`` under ``precision``, among ``allowed``
    (int8 only where just the argmax is read, :class:`~analogist.matching.hypercolumn.Keys`)."""
    return choose("product", precision, device, allowed=allowed).dtype


__all__ = [
    "MARGIN",
    "PRECISIONS",
    "ENV_PRECISION",
    "KernelPath",
    "KernelChoice",
    "cache_dir",
    "machine_key",
    "default_choice",
    "reset",
    "choose",
    "product_dtype",
]
