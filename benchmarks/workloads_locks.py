"""Lock workloads: every way users take a Lock or an RLock.

Uncontended (one process): explicit ``acquire()``/``release()`` in a loop, and
``with lock:``. Contended: two forked processes hammer the same lock, in both
styles. And the RLocks that guard shared ctypes: ``Value("i").get_lock()`` and
``Array("i", 10).get_lock()`` with two processes incrementing under them (the
final count is checked, so a lock that does not exclude fails the workload).
"""

from __future__ import annotations

import time

from benchmarks import _children
from benchmarks.harness import Measurement, workload

_QUICK = {"n": 1000}
_UNCONTENDED = {"n": 500000}
_CONTENDED = {"n": 100000}


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


def _contended(mp, make_lock, target, n: int) -> Measurement:
    ctx = mp.get_context("fork")
    lock, go = make_lock(ctx), ctx.Event()
    procs = [ctx.Process(target=target, args=(lock, n, go)) for _ in range(2)]
    for p in procs:
        p.start()
    t0 = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - t0
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"lock children exited with {bad}")
    return Measurement(units=2 * n, seconds=seconds)


@workload("lock.acquire_release", target=1.0, unit="ops/s", params=_UNCONTENDED,
          quick=_QUICK)
def lock_acquire_release(mp, n: int) -> Measurement:
    """`lock.acquire(); lock.release()` n times in one process."""
    return _uncontended_explicit(mp.Lock(), n)


@workload("lock.with", target=1.0, unit="ops/s", params=_UNCONTENDED,
          quick=_QUICK)
def lock_with(mp, n: int) -> Measurement:
    """`with lock: pass` n times in one process."""
    return _uncontended_with(mp.Lock(), n)


@workload("lock.contended.acquire_release", target=1.5, unit="ops/s", params=_CONTENDED, quick=_QUICK)
def lock_contended_acquire_release(mp, n: int) -> Measurement:
    """Two processes each do `lock.acquire(); lock.release()` n times on one Lock."""
    return _contended(mp, lambda ctx: ctx.Lock(), _children.hammer_lock_explicit, n)


@workload("lock.contended.with", target=1.5, unit="ops/s", params=_CONTENDED, quick=_QUICK)
def lock_contended_with(mp, n: int) -> Measurement:
    """Two processes each do `with lock: pass` n times on one Lock."""
    return _contended(mp, lambda ctx: ctx.Lock(), _children.hammer_lock, n)


@workload("rlock.acquire_release", target=1.0, unit="ops/s", params=_UNCONTENDED,
          quick=_QUICK)
def rlock_acquire_release(mp, n: int) -> Measurement:
    """`rlock.acquire(); rlock.release()` n times in one process."""
    return _uncontended_explicit(mp.RLock(), n)


@workload("rlock.with", target=1.0, unit="ops/s", params=_UNCONTENDED,
          quick=_QUICK)
def rlock_with(mp, n: int) -> Measurement:
    """`with rlock: pass` n times in one process."""
    return _uncontended_with(mp.RLock(), n)


@workload("rlock.contended.acquire_release", target=1.5, unit="ops/s", params=_CONTENDED, quick=_QUICK)
def rlock_contended_acquire_release(mp, n: int) -> Measurement:
    """Two processes each do `rlock.acquire(); rlock.release()` n times on one RLock."""
    return _contended(mp, lambda ctx: ctx.RLock(), _children.hammer_lock_explicit, n)


@workload("rlock.contended.with", target=1.5, unit="ops/s", params=_CONTENDED, quick=_QUICK)
def rlock_contended_with(mp, n: int) -> Measurement:
    """Two processes each do `with rlock: pass` n times on one RLock."""
    return _contended(mp, lambda ctx: ctx.RLock(), _children.hammer_lock, n)


def _increments(mp, make, target, read, n: int) -> Measurement:
    ctx = mp.get_context("fork")
    shared, go = make(ctx), ctx.Event()
    procs = [ctx.Process(target=target, args=(shared, n, go)) for _ in range(2)]
    for p in procs:
        p.start()
    t0 = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - t0
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"incrementing children exited with {bad}")
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
