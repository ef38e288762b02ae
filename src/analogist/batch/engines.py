"""Where independent calls run: this process, a local process pool, or a Ray cluster.

:func:`map_unordered` is the one path ``analogist batch`` and ``analogist eval`` share. ``fn`` must be
a module-level function (pickled by reference) that turns its own errors into results; the engines
only deal with processes that die. On Ray a killed worker process is retried by Ray itself
(``max_retries``); a call that still fails gives ``on_lost(index, message)``.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import InputError
from ..threads import child_threads, limit_threads, threads_for

log = logging.getLogger("analogist")
ENGINES = ("local", "ray")
#: Times Ray reruns a call whose worker process died (killed, out of memory, node lost).
RAY_RETRIES = 3


def map_local(
    fn: Callable[..., Any], calls: Sequence[tuple], workers: int, threads: int | None = None
) -> Iterator[tuple[int, Any]]:
    """``(index, fn(*calls[index]))`` in completion order; in this process when ``workers`` is 1.

    Each worker's torch gets ``threads`` threads (default: the cores shared out, see
    :func:`analogist.threads.threads_for`)."""
    threads = threads or threads_for(workers)
    if workers <= 1 or len(calls) <= 1:
        limit_threads(threads)
        for i, args in enumerate(calls):
            yield i, fn(*args)
        return
    ctx = multiprocessing.get_context("spawn")  # no forked copies of torch's thread pools
    with cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=limit_threads, initargs=(threads,)
    ) as pool:
        with child_threads(threads):  # spawned workers start at submission: their pools are sized before torch loads
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
    # Ray runs its workers at niceness 15: on a busy machine they got 4 % of a core and a job took 20x as
    # long as in a local worker; a private cluster's compete as local workers do (unless the user says
    # otherwise); the raylet reads it as it starts, in ray.init
    nice = address is None and "RAY_worker_niceness" not in os.environ
    if nice:
        os.environ["RAY_worker_niceness"] = "0"
    # a notice may come from any of Ray's loggers: filter where the records are written
    quiet = _PrivateClusterNotices()
    handlers = [*logging.getLogger("ray").handlers, *logging.getLogger().handlers, logging.lastResort]
    handlers = [h for h in handlers if h is not None] if address is None else []
    for h in handlers:
        h.addFilter(quiet)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    finally:
        for h in handlers:
            h.removeFilter(quiet)
        if nice:
            del os.environ["RAY_worker_niceness"]
    return ray, True


class _PrivateClusterNotices(logging.Filter):
    """Ray warns that a cluster it starts has no token authentication; ours listens on loopback only, so the
    notice goes to the debug log instead of into the progress bar's line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "oken authentication" in record.getMessage():
            log.debug("ray: %s", record.getMessage())
            return False
        return True


def map_ray(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    workers: int,
    address: str | None = None,
    on_lost: Callable[[int, str], Any] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Like :func:`map_local` on a Ray cluster, at most ``workers`` calls in flight (one CPU each).

    Without ``address`` a local cluster is started (and stopped at the end); inputs and outputs
    must be paths every node sees (a shared file system). The cluster is reached before this returns,
    so whatever Ray prints on connecting comes before the caller draws a progress bar.
    """
    ray, started = connect_ray(address, workers)
    return _ray_results(ray, started, fn, calls, workers, on_lost)


def _ray_results(
    ray: Any,
    started: bool,
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    workers: int,
    on_lost: Callable[[int, str], Any] | None,
) -> Iterator[tuple[int, Any]]:
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
    threads: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """``(index, fn(*calls[index]))`` for every call, in completion order, on ``engine``; ``threads``: torch
    threads per local worker (Ray gives each call one CPU and sets its threads itself)."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "local":
        if address is not None:
            raise InputError("--address applies to --engine ray only")
        return map_local(fn, calls, workers, threads)
    return map_ray(fn, calls, workers, address, on_lost)
