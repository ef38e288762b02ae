"""How many threads one worker's torch may use, and setting that before torch starts its pools.

Several workers each running torch with every core's worth of threads oversubscribe the machine, and
OpenMP threads that wait for a descheduled sibling at every parallel region make a job several times
slower than with one thread. So each worker gets ``cores // workers`` threads, counting only the cores
other work leaves free when the run starts (on a busy machine a job with one thread is several times
faster than one whose threads wait on each other: 26 s against 160 s for six Deep Image Analogy jobs on
two cores at load 8, ``benchmarks/batch.py``). The count is set through the environment of a process
before it imports torch (OpenMP and MKL read it once, at load) and through ``torch.set_num_threads`` in a
process where torch is already loaded. Waiting threads sleep instead of spinning
(``OMP_WAIT_POLICY=PASSIVE``) in the processes the batch starts.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

#: Variables the thread pools of torch's back ends read when they load.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: The user's (or a parent process's) own limit, read before this module sets any: a ceiling.
_CEILING = os.environ.get("OMP_NUM_THREADS", "")


def cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cores(samples: int = 5, interval: float = 0.05, loadavg: str = "/proc/loadavg") -> int:
    """This process's cores less those other work keeps busy now: the runnable threads the kernel counts
    (``/proc/loadavg``, which includes the thread asking), averaged over a few samples; all cores where
    that count is unavailable. Between jobs a job runner is idle, so its own earlier work is not counted."""
    total = cores()
    counts = []
    for i in range(samples):
        try:
            with open(loadavg, encoding="ascii") as fh:
                counts.append(int(fh.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return total
        if i + 1 < samples:
            time.sleep(interval)
    return max(1, total - round(sum(counts) / len(counts)))


def threads_for(workers: int, total: int | None = None) -> int:
    """Threads per worker when ``workers`` share ``total`` cores (default: the cores free now)."""
    return max(1, (total or free_cores()) // max(1, workers))


def thread_env(threads: int) -> dict[str, str]:
    """The environment that makes a new process's torch use ``threads`` threads that sleep when idle."""
    return {**{k: str(threads) for k in THREAD_VARS}, "OMP_WAIT_POLICY": "PASSIVE"}


@contextlib.contextmanager
def child_threads(threads: int) -> Iterator[None]:
    """Processes started inside the block inherit :func:`thread_env`; this process's is restored after."""
    saved = {k: os.environ.get(k) for k in thread_env(threads)}
    os.environ.update(thread_env(threads))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def limit_threads(threads: int) -> None:
    """Use ``threads`` threads in this process: the environment if torch is not loaded yet, and torch's
    own setting (intra-op; inter-op too while torch still allows it)."""
    if _CEILING.isdigit() and int(_CEILING) > 0:
        threads = min(threads, int(_CEILING))
    if "torch" not in sys.modules:
        for k, v in thread_env(threads).items():
            os.environ.setdefault(k, v)  # a user's explicit setting wins
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first inter-op work
        torch.set_num_interop_threads(threads)


def settings() -> dict[str, str | int]:
    """This process's thread settings as torch sees them (benchmarks print them; tests check workers')."""
    import torch

    return {
        "torch": torch.get_num_threads(),
        **{k: os.environ.get(k, "") for k in (*THREAD_VARS, "OMP_WAIT_POLICY")},
    }
