"""Queue workloads: Queue, SimpleQueue and JoinableQueue."""

from __future__ import annotations

import time

from benchmarks import _children
from benchmarks.harness import Measurement, Skip, workload


def _one_producer(mp, make: str, n: int) -> Measurement:
    """One producer process puts n small tuples on ``ctx.<make>()``; the parent gets them."""
    ctx = mp.get_context("fork")
    q, go = getattr(ctx, make)(), ctx.Event()
    proc = ctx.Process(target=_children.put_items, args=(q, n, (1, "abc", 2.5), go))
    proc.start()
    t0 = time.perf_counter()
    go.set()
    got = 0
    while q.get() is not None:
        got += 1
    seconds = time.perf_counter() - t0
    proc.join()
    if got != n:
        raise RuntimeError(f"got {got} of {n} items")
    return Measurement(units=n, seconds=seconds)


@workload("queue.small_1p1c", target=1.5, unit="msg/s", params={"n": 50000}, quick={"n": 500})
def queue_small_1p1c(mp, n: int) -> Measurement:
    """One producer process puts n small tuples; the parent gets them."""
    return _one_producer(mp, "Queue", n)


@workload("queue.small_4p4c", target=1.5, unit="msg/s", params={"n": 20000}, quick={"n": 200})
def queue_small_4p4c(mp, n: int) -> Measurement:
    """Four producers put n small items each; four consumers take them all."""
    ctx = mp.get_context("fork")
    q, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    producers = [ctx.Process(target=_children.put_items, args=(q, n, (1, "abc"), go))
                 for _ in range(4)]
    # Each consumer stops at its first sentinel: four sentinels, four consumers.
    consumers = [ctx.Process(target=_children.get_until_none, args=(q, 1, done))
                 for _ in range(4)]
    for p in producers + consumers:
        p.start()
    t0 = time.perf_counter()
    go.set()
    total = sum(done.get() for _ in consumers)
    seconds = time.perf_counter() - t0
    for p in producers + consumers:
        p.join()
    if total != 4 * n:
        raise RuntimeError(f"consumed {total} of {4 * n} items")
    return Measurement(units=4 * n, seconds=seconds)


def _big(mp, n: int, kind: str) -> Measurement:
    size = 10 * 1024 * 1024
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_children.make_and_put, args=(q, n, size, kind))
    proc.start()
    first = q.get()  # the first item pays for the child's start; not timed
    t0 = time.perf_counter()
    for _ in range(n - 1):
        item = q.get()
    seconds = time.perf_counter() - t0
    proc.join()
    if len(first) != size or len(item) != size:
        raise RuntimeError("wrong payload size")
    return Measurement(units=(n - 1) * size / 1e9, seconds=seconds)


@workload("queue.bytes_10mb", target=5.0, unit="GB/s", params={"n": 21}, quick={"n": 2})
def queue_bytes_10mb(mp, n: int) -> Measurement:
    """A child puts 10 MB bytes objects; the parent gets them."""
    return _big(mp, n, "bytes")


@workload("queue.numpy_10mb", target=5.0, unit="GB/s", params={"n": 21}, quick={"n": 2})
def queue_numpy_10mb(mp, n: int) -> Measurement:
    """A child puts 10 MB numpy arrays; the parent gets them."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise Skip("numpy is not installed (pip install pymproc[bench])") from None
    return _big(mp, n, "numpy")


@workload("simplequeue.small_1p1c", target=1.5, unit="msg/s", params={"n": 50000},
          quick={"n": 500})
def simplequeue_small_1p1c(mp, n: int) -> Measurement:
    """SimpleQueue: one producer process puts n small tuples; the parent gets them."""
    return _one_producer(mp, "SimpleQueue", n)


@workload("joinablequeue.put_get_task_done_join", target=1.5, unit="msg/s",
          params={"n": 20000}, quick={"n": 200})
def joinablequeue_task_done_join(mp, n: int) -> Measurement:
    """JoinableQueue: the parent puts n small tuples and join()s; a child get()s and
    task_done()s each."""
    ctx = mp.get_context("fork")
    q = ctx.JoinableQueue()
    proc = ctx.Process(target=_children.get_task_done, args=(q, n + 1))
    proc.start()
    q.put(None)  # the child is up and consuming before the clock starts
    q.join()
    t0 = time.perf_counter()
    for _ in range(n):
        q.put((1, "abc", 2.5))
    q.join()
    seconds = time.perf_counter() - t0
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"consumer exited with {proc.exitcode}")
    return Measurement(units=n, seconds=seconds)
