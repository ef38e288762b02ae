"""Where independent calls run: this process, a local process pool, or a Ray cluster.

:func:`map_unordered` is the one path ``analogist batch`` and ``analogist eval`` share. ``fn`` must be
a module-level function (pickled by reference) that turns its own errors into results; the engines
only deal with processes that die. On Ray a killed worker process is retried by Ray itself
(``max_retries``); a call that still fails gives ``on_lost(index, message)``.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import InputError

ENGINES = ("local", "ray")
#: Times Ray reruns a call whose worker process died (killed, out of memory, node lost).
RAY_RETRIES = 3


def _threads_for(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _init_local(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def map_local(fn: Callable[..., Any], calls: Sequence[tuple], workers: int) -> Iterator[tuple[int, Any]]:
    """``(index, fn(*calls[index]))`` in completion order; in this process when ``workers`` is 1."""
    if workers <= 1 or len(calls) <= 1:
        for i, args in enumerate(calls):
            yield i, fn(*args)
        return
    ctx = multiprocessing.get_context("spawn")  # no forked copies of torch's thread pools
    with cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_local, initargs=(_threads_for(workers),)
    ) as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def connect_ray(address: str | None, workers: int) -> tuple[Any, bool]:
    """``(ray module, whether this call started the cluster)``; a local one has ``workers`` CPUs."""
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'analogist[batch]'") from None
    if ray.is_initialized():
        return ray, False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address is None:  # a private cluster on loopback, sized to the jobs
        kwargs.update(num_cpus=workers, _node_ip_address="127.0.0.1")
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    return ray, True


def map_ray(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    workers: int,
    address: str | None = None,
    on_lost: Callable[[int, str], Any] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Like :func:`map_local` on a Ray cluster, at most ``workers`` calls in flight (one CPU each).

    Without ``address`` a local cluster is started (and stopped at the end); inputs and outputs
    must be paths every node sees (a shared file system).
    """
    ray, started = connect_ray(address, workers)
    try:
        remote = ray.remote(num_cpus=1, max_retries=RAY_RETRIES)(fn)
        todo = list(enumerate(calls))[::-1]
        pending: dict[Any, int] = {}
        while todo or pending:
            while todo and len(pending) < workers:
                i, args = todo.pop()
                pending[remote.remote(*args)] = i
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            try:
                yield i, ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                message = f"the Ray worker running it was lost {RAY_RETRIES + 1} times ({type(exc).__name__})"
                if on_lost is None:
                    raise InputError(message) from None
                yield i, on_lost(i, message)
    finally:
        if started:
            ray.shutdown()


def map_unordered(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    *,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    on_lost: Callable[[int, str], Any] | None = None,
) -> Iterator[tuple[int, Any]]:
    """``(index, fn(*calls[index]))`` for every call, in completion order, on ``engine``."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "local":
        if address is not None:
            raise InputError("--address applies to --engine ray only")
        return map_local(fn, calls, workers)
    return map_ray(fn, calls, workers, address, on_lost)
