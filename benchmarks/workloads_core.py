"""Core workloads: process start/join per start method (Pipe workloads: workloads_pipes.py).

Each function receives the library module (``mproc`` or ``multiprocessing``)
as ``mp`` and must use only that.  Process targets live in
``benchmarks._children`` so spawn/forkserver children can import them.
"""

from __future__ import annotations

import time

from benchmarks import _children
from benchmarks.harness import Measurement, Skip, workload


def _start_join(mp, method: str, n: int, warmup: int) -> Measurement:
    if method not in mp.get_all_start_methods():
        raise Skip(f"start method {method!r} not available")
    ctx = mp.get_context(method)
    # Warm up: the forkserver / resource tracker start, and first-use imports,
    # are one-time costs that are not what this workload measures.
    for _ in range(warmup):
        p = ctx.Process(target=_children.noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"warm-up process exited with {p.exitcode}")
    bad = []
    t0 = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=_children.noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            bad.append(p.exitcode)
    dt = time.perf_counter() - t0
    if bad:
        raise RuntimeError(f"{len(bad)}/{n} processes exited non-zero: {bad[:5]}")
    return Measurement(units=n, seconds=dt, extra={"method": method})


@workload("start_join.fork", target=1.0, unit="proc/s", params={"n": 30, "warmup": 2},
          quick={"n": 2, "warmup": 1})
def start_join_fork(mp, n: int, warmup: int) -> Measurement:
    """Start and join N trivial processes one after another with the 'fork' start method."""
    return _start_join(mp, "fork", n, warmup)


@workload("start_join.spawn", target=1.5, unit="proc/s", params={"n": 10, "warmup": 1},
          quick={"n": 1, "warmup": 1})
def start_join_spawn(mp, n: int, warmup: int) -> Measurement:
    """Start and join N trivial processes one after another with the 'spawn' start method."""
    return _start_join(mp, "spawn", n, warmup)


@workload("start_join.forkserver", target=2.0, unit="proc/s", params={"n": 30, "warmup": 2},
          quick={"n": 2, "warmup": 1})
def start_join_forkserver(mp, n: int, warmup: int) -> Measurement:
    """Start and join N trivial processes one after another with the 'forkserver' start method
    (server already running)."""
    return _start_join(mp, "forkserver", n, warmup)
