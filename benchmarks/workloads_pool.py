"""Pool workloads."""

from __future__ import annotations

import time

from benchmarks import _children
from benchmarks.harness import Measurement, Skip, workload


def _warm_pool(mp):
    pool = mp.get_context("fork").Pool(2)
    pool.map(_children.square, range(10))  # workers started and warm
    return pool


@workload("pool.map_tiny", target=1.0, unit="task/s", params={"n": 200000}, quick={"n": 2000})
def pool_map_tiny(mp, n: int) -> Measurement:
    """Pool(2).map of n tiny tasks (default chunksize)."""
    with _warm_pool(mp) as pool:
        t0 = time.perf_counter()
        out = pool.map(_children.square, range(n))
        seconds = time.perf_counter() - t0
    if out[-1] != (n - 1) ** 2:
        raise RuntimeError("wrong result")
    return Measurement(units=n, seconds=seconds)


@workload("pool.imap_unordered_tiny", target=1.0, unit="task/s", params={"n": 20000},
          quick={"n": 500})
def pool_imap_unordered_tiny(mp, n: int) -> Measurement:
    """Pool(2).imap_unordered of n tiny tasks (chunksize 1)."""
    with _warm_pool(mp) as pool:
        t0 = time.perf_counter()
        total = sum(pool.imap_unordered(_children.square, range(n)))
        seconds = time.perf_counter() - t0
    if total != sum(x * x for x in range(n)):
        raise RuntimeError("wrong result")
    return Measurement(units=n, seconds=seconds)


@workload("pool.apply_async_get", target=1.0, unit="task/s", params={"n": 20000},
          quick={"n": 500})
def pool_apply_async_get(mp, n: int) -> Measurement:
    """n apply_async calls, then get() on each result."""
    with _warm_pool(mp) as pool:
        t0 = time.perf_counter()
        results = [pool.apply_async(_children.square, (i,)) for i in range(n)]
        total = sum(r.get() for r in results)
        seconds = time.perf_counter() - t0
    if total != sum(x * x for x in range(n)):
        raise RuntimeError("wrong result")
    return Measurement(units=n, seconds=seconds)


@workload("pool.numpy_200mb", target=5.0, unit="GB/s", params={"n": 3}, quick={"n": 1})
def pool_numpy_200mb(mp, n: int) -> Measurement:
    """A 200 MB numpy array to a worker and back, n times."""
    try:
        import numpy
    except ImportError:
        raise Skip("numpy is not installed (pip install pymproc[bench])") from None
    array = numpy.ones(200 * 1000 * 1000, dtype=numpy.uint8)
    with _warm_pool(mp) as pool:
        t0 = time.perf_counter()
        for _ in range(n):
            back = pool.apply(_children.identity, (array,))
        seconds = time.perf_counter() - t0
    if back.nbytes != array.nbytes:
        raise RuntimeError("wrong result")
    return Measurement(units=n * 2 * array.nbytes / 1e9, seconds=seconds)
