"""What mproc's robustness options cost tasks that never need them.

``memory_limit=`` has the supervisor read each busy worker's resident memory every
5 ms; ``retries=`` keeps a task's record until it is answered. A task that stays
under the limit and whose worker never dies must not be slower by more than 2%
(target 0.98). Both sides are mproc's Pool(2) on fork: on the harness's mproc side
with the option, on its "stdlib" side the same pool without it, so the ratio is the
option's cost alone. Each row runs fixed CPU work (``churn``: a list of ints built
and summed), never a timed sleep, so CPU taken from the workers shows.
"""

from __future__ import annotations

import time

from benchmarks import _children
from benchmarks.harness import Measurement, workload

GIB = 1 << 30


def _map(mp, n: int, k: int, chunksize: int, **options) -> Measurement:
    import mproc

    with mproc.get_context("fork").Pool(2) as pool:
        pool.map(_children.square, range(10))  # workers started and warm
        if mp.__name__ != "mproc":
            options = {}
        t0 = time.perf_counter()
        out = pool.map(_children.churn, [k] * n, chunksize, **options)
        seconds = time.perf_counter() - t0
    if out[-1] != k * (k - 1):
        raise RuntimeError("wrong result")
    return Measurement(units=n, seconds=seconds)


@workload("pool.memory_limit.1ms_tasks.vs_no_limit", target=0.98, unit="task/s",
          params={"n": 4000}, quick={"n": 200})
def memory_limit_1ms(mp, n: int) -> Measurement:
    """n tasks of ~1 ms (chunksize 1), memory_limit=1 GiB vs no limit."""
    return _map(mp, n, 20000, 1, memory_limit=GIB)


@workload("pool.memory_limit.tiny_tasks.vs_no_limit", target=0.98, unit="task/s",
          params={"n": 100000}, quick={"n": 2000})
def memory_limit_tiny(mp, n: int) -> Measurement:
    """n tasks of ~5 µs (default chunksize), memory_limit=1 GiB vs no limit."""
    return _map(mp, n, 50, None, memory_limit=GIB)


@workload("pool.retries.1ms_tasks.vs_no_retries", target=0.98, unit="task/s",
          params={"n": 4000}, quick={"n": 200})
def retries_1ms(mp, n: int) -> Measurement:
    """n tasks of ~1 ms (chunksize 1) whose workers never die, retries=3 vs none."""
    return _map(mp, n, 20000, 1, retries=3)
