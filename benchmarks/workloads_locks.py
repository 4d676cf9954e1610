"""Lock workloads: every way users take a Lock or an RLock.

Uncontended (one process): explicit ``acquire()``/``release()`` in a loop, and
``with lock:``. Contended: two forked processes hammer the same lock, in both
styles. And the RLocks that guard shared ctypes: ``Value("i").get_lock()`` and
``Array("i", 10).get_lock()`` with two processes incrementing under them (the
final count is checked, so a lock that does not exclude fails the workload).
"""

from __future__ import annotations

import os
import time

from benchmarks import _children
from benchmarks.harness import Measurement, Skip, workload

_QUICK = {"n": 1000}
_UNCONTENDED = {"n": 500000}
_CONTENDED = {"n": 100000}
# Two processes on one bare Lock or RLock: at ~40 ns an operation, 100,000 of them
# took 4 ms, less than the skew between the two children waking up, so the two
# loops barely overlapped and the figure swung between 0.4x and 2x from run to run.
_CONTENDED_BARE = {"n": 2000000}


def _uncontended_explicit(lock, n: int) -> Measurement:
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter()
    for _ in range(n):
        acquire()
        release()
    return Measurement(units=n, seconds=time.perf_counter() - t0)


def _uncontended_with(lock, n: int) -> Measurement:
    t0 = time.perf_counter()
    for _ in range(n):
        with lock:
            pass
    return Measurement(units=n, seconds=time.perf_counter() - t0)


def _race(ctx, target, shared, n: int, who: str, cpus=None) -> float:
    """Two processes run ``target(shared, n, go)`` from one start signal; seconds taken.
    ``cpus``: pin the two to these CPUs (one each)."""
    go = ctx.Event()
    if cpus is None:
        procs = [ctx.Process(target=target, args=(shared, n, go)) for _ in range(2)]
    else:
        procs = [ctx.Process(target=_children.on_cpu, args=(cpu, target, shared, n, go))
                 for cpu in cpus]
    for p in procs:
        p.start()
    t0 = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - t0
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"{who} children exited with {bad}")
    return seconds


def _contended(mp, make_lock, target, n: int, two_cpus: bool = False) -> Measurement:
    ctx = mp.get_context("fork")
    cpus = None
    if two_cpus:
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2:
            raise Skip("needs two CPUs")
        cpus = allowed[:2]
    seconds = _race(ctx, target, make_lock(ctx), n, "lock", cpus)
    return Measurement(units=2 * n, seconds=seconds)


def _register_paths(kind: str, label: str) -> None:
    """The four ways a user takes a ``label`` (Lock or RLock), each a workload."""

    def make(mp_or_ctx):
        return getattr(mp_or_ctx, label)()

    def explicit(mp, n: int) -> Measurement:
        return _uncontended_explicit(make(mp), n)

    def with_block(mp, n: int) -> Measurement:
        return _uncontended_with(make(mp), n)

    def contended_explicit(mp, n: int) -> Measurement:
        return _contended(mp, make, _children.hammer_lock_explicit, n)

    def contended_with(mp, n: int) -> Measurement:
        return _contended(mp, make, _children.hammer_lock, n)

    def contended_explicit_two_cpus(mp, n: int) -> Measurement:
        return _contended(mp, make, _children.hammer_lock_explicit, n, two_cpus=True)

    var = label.lower()
    explicit.__doc__ = f"`{var}.acquire(); {var}.release()` n times in one process."
    with_block.__doc__ = f"`with {var}: pass` n times in one process."
    contended_explicit.__doc__ = (f"Two processes each do `{var}.acquire(); {var}.release()` "
                                  f"n times on one {label}.")
    contended_with.__doc__ = f"Two processes each do `with {var}: pass` n times on one {label}."
    contended_explicit_two_cpus.__doc__ = (
        "As contended.acquire_release, each process pinned to a CPU of its own (really "
        "contended: unpinned, the kernel may put both on one CPU, where they take turns).")
    for path, fn, target, params in (
            ("acquire_release", explicit, 1.0, _UNCONTENDED),
            ("with", with_block, 1.0, _UNCONTENDED),
            ("contended.acquire_release", contended_explicit, 1.5, _CONTENDED_BARE),
            ("contended.with", contended_with, 1.5, _CONTENDED_BARE),
            ("contended.acquire_release.two_cpus", contended_explicit_two_cpus, 1.5,
             _CONTENDED_BARE)):
        workload(f"{kind}.{path}", target=target, unit="ops/s", params=params,
                 quick=_QUICK)(fn)


_register_paths("lock", "Lock")
_register_paths("rlock", "RLock")


def _increments(mp, make, target, read, n: int) -> Measurement:
    ctx = mp.get_context("fork")
    shared = make(ctx)
    seconds = _race(ctx, target, shared, n, "incrementing")
    if read(shared) != 2 * n:
        raise AssertionError(f"counter is {read(shared)}, expected {2 * n}: the lock did not exclude")
    return Measurement(units=2 * n, seconds=seconds)


@workload("value.get_lock.contended_increment", target=1.5, unit="ops/s", params=_CONTENDED, quick=_QUICK)
def value_get_lock_contended(mp, n: int) -> Measurement:
    """Two processes each do `with v.get_lock(): v.value += 1` n times on Value("i")."""
    return _increments(mp, lambda ctx: ctx.Value("i", 0), _children.increment_value,
                       lambda v: v.value, n)


@workload("array.get_lock.contended_increment", target=1.5, unit="ops/s", params=_CONTENDED, quick=_QUICK)
def array_get_lock_contended(mp, n: int) -> Measurement:
    """Two processes each do `with a.get_lock(): a[0] += 1` n times on Array("i", 10)."""
    return _increments(mp, lambda ctx: ctx.Array("i", 10), _children.increment_array,
                       lambda a: a[0], n)
