"""Core workloads: process start/join per start method, Pipe latency and throughput.

Each function receives the library module (``mproc`` or ``multiprocessing``)
as ``mp`` and must use only that.  Process targets live in
``benchmarks._children`` so spawn/forkserver children can import them.
"""

from __future__ import annotations

import os
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


@workload("start_join.spawn", target=1.2, unit="proc/s", params={"n": 10, "warmup": 1},
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


def _cpus(pin: str | None) -> tuple[int | None, int | None]:
    """(parent_cpu, child_cpu) for a pinning mode, or (None, None) for no pinning.

    Pipe latency and throughput are bimodal depending on whether the scheduler
    happens to put the two ends on the same core or on different cores (on the
    2-vCPU dev box: round trips ~58k/s vs ~23k/s, 1 MiB transfers ~6 GB/s vs
    ~1.1 GB/s), so unpinned runs are not comparable.  The pipe workloads pin:

    * ``"same"``: both ends on one CPU.  Used for the round-trip latency: it
      isolates the library's per-message cost (serialization, syscalls,
      locking) from cross-CPU wake-up latency, which is identical for both
      libraries, very noisy on a VM, and would only dilute the ratio.
    * ``"cross"``: two distinct CPUs, the realistic producer/consumer case.
      Used for bulk throughput (stable there).

    Falls back to no pinning where affinity is unsupported, or to "same" when
    only one CPU is usable.
    """
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if pin == "same" or len(cpus) < 2:
        return cpus[0], cpus[0]
    if pin == "cross":
        return cpus[0], cpus[1]
    raise ValueError(f"unknown pin mode {pin!r}")


SMALL_OBJ = (1, "abc", 2.5)


@workload("pipe.roundtrip_small", target=1.0, unit="rt/s",
          params={"n": 10000, "warmup": 200, "pin": "same"},
          quick={"n": 20, "warmup": 5})
def pipe_roundtrip_small(mp, n: int, warmup: int, pin: str | None) -> Measurement:
    """Round trips of the small tuple (1, 'abc', 2.5) over a duplex Pipe to an echoing child."""
    parent_cpu, child_cpu = _cpus(pin)
    old_affinity = os.sched_getaffinity(0) if parent_cpu is not None else None
    parent, child = mp.Pipe()
    p = mp.Process(target=_children.echo, args=(child, child_cpu))
    p.start()
    child.close()
    try:
        _children.pin_to_cpu(parent_cpu)
        send, recv = parent.send, parent.recv
        for _ in range(warmup):
            send(SMALL_OBJ)
            recv()
        t0 = time.perf_counter()
        for _ in range(n):
            send(SMALL_OBJ)
            got = recv()
        dt = time.perf_counter() - t0
        if got != SMALL_OBJ:
            raise AssertionError(f"echo returned {got!r}")
        send(None)
    finally:
        if old_affinity is not None:
            os.sched_setaffinity(0, old_affinity)
        p.join(30)
        if p.is_alive():
            p.terminate()
            p.join()
        parent.close()
    if p.exitcode != 0:
        raise RuntimeError(f"echo child exited with {p.exitcode}")
    return Measurement(units=n, seconds=dt, extra={"cpus": [parent_cpu, child_cpu]})


@workload("pipe.bytes_1mb", target=1.5, unit="GB/s", scale=1e-9,
          params={"size": 1 << 20, "count": 1000, "warmup": 10, "pin": "cross"},
          quick={"count": 4, "warmup": 1})
def pipe_bytes_1mb(mp, size: int, count: int, warmup: int, pin: str | None) -> Measurement:
    """Throughput of send_bytes/recv_bytes of 1 MiB payloads from a child to the parent."""
    parent_cpu, child_cpu = _cpus(pin)
    old_affinity = os.sched_getaffinity(0) if parent_cpu is not None else None
    parent, child = mp.Pipe()
    p = mp.Process(target=_children.send_bytes_stream,
                   args=(child, size, warmup + count, child_cpu))
    p.start()
    child.close()
    try:
        _children.pin_to_cpu(parent_cpu)
        parent.send_bytes(b"go")
        recv_bytes = parent.recv_bytes
        for _ in range(warmup):
            recv_bytes()
        total = 0
        t0 = time.perf_counter()
        for _ in range(count):
            total += len(recv_bytes())
        dt = time.perf_counter() - t0
        parent.send_bytes(b"done")
    finally:
        if old_affinity is not None:
            os.sched_setaffinity(0, old_affinity)
        p.join(30)
        if p.is_alive():
            p.terminate()
            p.join()
        parent.close()
    if total != size * count:
        raise AssertionError(f"received {total} bytes, expected {size * count}")
    if p.exitcode != 0:
        raise RuntimeError(f"sender child exited with {p.exitcode}")
    return Measurement(units=total, seconds=dt,  # bytes/s, scaled to GB/s
                       extra={"cpus": [parent_cpu, child_cpu]})
