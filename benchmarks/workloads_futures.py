"""Executor workloads: mproc.futures against the stdlib's ProcessPoolExecutor and loky.

Each workload runs the same calls on both sides: with ``mp`` = mproc, on
``mproc.futures.ProcessPoolExecutor``; with ``mp`` = the stdlib, on
``concurrent.futures.ProcessPoolExecutor`` (``mp_context`` from ``mp``), or, for the
``.vs_loky`` rows, on loky's executor (joblib's vendored copy). Both executors use
fork workers, warmed up before the clock starts.
"""

from __future__ import annotations

import time

from benchmarks import _children
from benchmarks.harness import Measurement, Skip, workload


def _executor(mp, peer: str = "stdlib"):
    if mp.__name__ == "mproc":
        import mproc.futures

        executor = mproc.futures.ProcessPoolExecutor(2, mp_context=mp.get_context("fork"))
    elif peer == "loky":
        try:
            from joblib.externals.loky import ProcessPoolExecutor
        except ImportError:
            raise Skip("joblib (with its vendored loky) is not installed") from None
        executor = ProcessPoolExecutor(2, context=mp.get_context("fork"))
    else:
        import concurrent.futures

        executor = concurrent.futures.ProcessPoolExecutor(2, mp_context=mp.get_context("fork"))
    list(executor.map(_children.square, range(20)))  # workers started and warm
    return executor


def _timed(mp, n: int, peer: str, run) -> Measurement:
    """``run(executor, n)`` (the sum of the squares of range(n)) on a warm executor."""
    executor = _executor(mp, peer)
    try:
        t0 = time.perf_counter()
        total = run(executor, n)
        seconds = time.perf_counter() - t0
    finally:
        executor.shutdown()
    if total != sum(x * x for x in range(n)):
        raise RuntimeError("wrong result")
    return Measurement(units=n, seconds=seconds)


def _submit_result(mp, n: int, peer: str) -> Measurement:
    def run(executor, n):
        futures = [executor.submit(_children.square, i) for i in range(n)]
        return sum(f.result() for f in futures)

    return _timed(mp, n, peer, run)


def _map(mp, n: int, peer: str) -> Measurement:
    return _timed(mp, n, peer, lambda executor, n: sum(executor.map(_children.square, range(n))))


@workload("futures.submit_result", target=3.0, unit="task/s", params={"n": 20000},
          quick={"n": 300})
def futures_submit_result(mp, n: int) -> Measurement:
    """ProcessPoolExecutor(2): n submit() of a tiny task, then result() of each."""
    return _submit_result(mp, n, "stdlib")


@workload("futures.map", target=3.0, unit="task/s", params={"n": 200000}, quick={"n": 2000})
def futures_map(mp, n: int) -> Measurement:
    """ProcessPoolExecutor(2).map of n tiny tasks (the default chunksize, 1)."""
    return _map(mp, n, "stdlib")


@workload("futures.submit_result.vs_loky", target=1.0, unit="task/s", params={"n": 20000},
          quick={"n": 300})
def futures_submit_result_vs_loky(mp, n: int) -> Measurement:
    """As futures.submit_result; the baseline is loky's ProcessPoolExecutor(2)."""
    return _submit_result(mp, n, "loky")


@workload("futures.map.vs_loky", target=1.0, unit="task/s", params={"n": 200000},
          quick={"n": 2000})
def futures_map_vs_loky(mp, n: int) -> Measurement:
    """As futures.map; the baseline is loky's ProcessPoolExecutor(2)."""
    return _map(mp, n, "loky")


@workload("futures.await_results", target=1.0, unit="task/s", params={"n": 20000},
          quick={"n": 300})
def futures_await_results(mp, n: int) -> Measurement:
    """asyncio: await n tiny tasks (mproc: await pool.apply_async; the stdlib:
    loop.run_in_executor on its ProcessPoolExecutor(2))."""
    import asyncio

    if mp.__name__ == "mproc":
        pool = mp.get_context("fork").Pool(2)
        pool.map(_children.square, range(20))

        def start(i):
            return pool.apply_async(_children.square, (i,))

        def stop():
            pool.terminate()
    else:
        executor = _executor(mp)

        def start(i):
            return asyncio.get_running_loop().run_in_executor(executor, _children.square, i)

        def stop():
            executor.shutdown()

    async def main():
        t0 = time.perf_counter()
        values = await asyncio.gather(*(start(i) for i in range(n)))
        return sum(values), time.perf_counter() - t0

    try:
        total, seconds = asyncio.run(main())
    finally:
        stop()
    if total != sum(x * x for x in range(n)):
        raise RuntimeError("wrong result")
    return Measurement(units=n, seconds=seconds)
