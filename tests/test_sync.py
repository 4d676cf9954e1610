"""Locks, semaphores, conditions, events and barriers, in one process and across
processes under every start method; recovery of a lock whose holder was killed;
pickling rules; and that creating and dropping primitives leaves nothing behind."""

from __future__ import annotations

import gc
import os
import pickle
import signal
import threading
import time
import warnings

import pytest

import mproc
from mproc._shm.tracker import ensure_running
from mproc._sync.cells import Cells
from mproc._sync.locks import _c_acquire
from mproc._sync.owner import POLL_INTERVAL
from mproc.synchronize import LockRecoveredWarning

from .helpers import started

TIMEOUT = 20


@pytest.fixture(scope="module", autouse=True)
def _tracker_running() -> None:
    # The tracker is a long-lived helper started on first need; start it before the
    # per-test fd leak check takes its snapshot.
    ensure_running()




def _join_all(procs: tuple[mproc.Process, ...]) -> list[int | None]:
    for p in procs:
        p.join(TIMEOUT)
    return [p.exitcode for p in procs]


# -- children (module level, so spawn and forkserver children can import them) -----


def _buy_ticket(lock, tickets, bought, i):
    with lock:
        left = tickets[0]
        time.sleep(0.05)  # the read-modify-write would race without the lock
        if left > 0:
            tickets[0] = left - 1
            bought[i] = 1


def _sing(sem, guard, stats):
    with sem:
        with guard:
            stats[0] += 1
            stats[1] = max(stats[1], stats[0])
        time.sleep(0.15)
        with guard:
            stats[0] -= 1


def _traffic_light(event, period):
    while True:
        time.sleep(period)
        if event.is_set():
            event.clear()
        else:
            event.set()


def _car(event, passed, i):
    if event.wait(TIMEOUT):
        passed[i] = 1


def _hold(lock, ready, seconds):
    lock.acquire()
    ready.set()
    time.sleep(seconds)


def _enter_after_recovery(lock, stats):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LockRecoveredWarning)
        if not lock.acquire(timeout=TIMEOUT):
            return
    stats[0] += 1
    stats[1] = max(stats[1], stats[0])
    time.sleep(0.1)
    stats[0] -= 1
    stats[2] += 1
    lock.release()


def _release(lock):
    lock.release()


def _cond_waiter(cond, sleeping, woken, timeout):
    with cond:
        sleeping.release()
        if cond.wait(timeout):
            woken.release()


def _set_later(event, delay):
    time.sleep(delay)
    event.set()


def _barrier_wait(barrier, out, i):
    try:
        out[i] = barrier.wait(TIMEOUT) + 1
    except threading.BrokenBarrierError:
        out[i] = -1


class _CountAction:
    def __init__(self, cells: Cells) -> None:
        self.cells = cells

    def __call__(self) -> None:
        self.cells[0] += 1


def _check_rlock_after_fork(lock, out):
    out[0] = int(lock._is_owned())
    out[1] = int(lock.acquire(timeout=0.1))
    try:
        lock.release()
    except AssertionError:
        out[2] = 1


def _noop(obj):
    pass


# -- one process --------------------------------------------------------------------


def test_lock_basics() -> None:
    lock = mproc.Lock()
    assert repr(lock) == "<Lock(owner=None)>"
    assert not lock.locked()
    assert lock.acquire() is True
    assert lock.locked()
    assert repr(lock) == "<Lock(owner=MainProcess)>"
    assert lock.acquire(False) is False
    assert lock.acquire(True, 0.05) is False
    assert lock.acquire(timeout=0) is False
    assert lock.release() is None
    with pytest.raises(ValueError):
        lock.release()
    with lock:
        assert lock.locked()
    assert not lock.locked()


def test_lock_timeout_is_honoured() -> None:
    lock = mproc.Lock()
    lock.acquire()
    start = time.monotonic()
    assert not lock.acquire(timeout=0.35)  # longer than one recovery poll
    assert 0.3 <= time.monotonic() - start < 2
    lock.release()


def test_lock_released_by_another_thread() -> None:
    lock = mproc.Lock()
    lock.acquire()
    t = threading.Thread(target=lock.release)
    t.start()
    t.join(TIMEOUT)
    assert lock.acquire(False)
    lock.release()


def test_rlock_recursion_and_ownership() -> None:
    lock = mproc.RLock()
    assert lock.acquire() and lock.acquire() and lock.acquire(False)
    assert repr(lock) == "<RLock(MainProcess, 3)>"
    errors: list[BaseException] = []

    def other() -> None:
        try:
            lock.release()
        except BaseException as exc:
            errors.append(exc)
        errors.append(lock.acquire(timeout=0.05))  # type: ignore[arg-type]

    t = threading.Thread(target=other)
    t.start()
    t.join(TIMEOUT)
    assert isinstance(errors[0], AssertionError)
    assert "not owned" in str(errors[0])
    assert errors[1] is False
    for _ in range(3):
        lock.release()
    with pytest.raises(AssertionError, match="attempt to release recursive lock not owned"):
        lock.release()
    with lock, lock:
        assert lock._is_owned()
    assert repr(lock) == "<RLock(None, 0)>"


def test_semaphores() -> None:
    sem = mproc.Semaphore(2)
    assert sem.get_value() == 2 and repr(sem) == "<Semaphore(value=2)>"
    assert sem.acquire() and sem.acquire()
    assert sem.acquire(False) is False
    assert sem.acquire(timeout=0.05) is False
    sem.release()
    sem.release()
    sem.release()
    assert sem.get_value() == 3  # a plain Semaphore may go above its start value
    with pytest.raises(ValueError):
        mproc.Semaphore(-1)
    bounded = mproc.BoundedSemaphore(2)
    assert repr(bounded) == "<BoundedSemaphore(value=2, maxvalue=2)>"
    with bounded:
        assert bounded.get_value() == 1
    with pytest.raises(ValueError, match="released too many times"):
        bounded.release()
    assert bounded.get_value() == 2


def test_condition_in_one_process() -> None:
    cond = mproc.Condition()
    with pytest.raises(AssertionError):
        cond.wait(0)
    with pytest.raises(AssertionError):
        cond.notify()
    with cond:
        start = time.monotonic()
        assert cond.wait(0.1) is False
        assert time.monotonic() - start >= 0.09
        assert cond.wait_for(lambda: 42) == 42
        assert cond.wait_for(lambda: 0, timeout=0.05) == 0
        # two waits ended on their own: counted in, handed shake, not yet accounted
        assert cond._sleeping_count.get_value() == cond._woken_count.get_value() == 2
        cond.notify_all()  # accounts for them; nobody waits, nothing is left behind
    assert cond._wait_semaphore.get_value() == 0
    assert cond._sleeping_count.get_value() == cond._woken_count.get_value() == 0

    results: list[bool] = []

    def waiter() -> None:
        with cond:
            results.append(cond.wait(TIMEOUT))

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + TIMEOUT
    while cond._waiting[0] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    with cond:
        cond.notify(2)
    time.sleep(0.1)
    with cond:
        cond.notify_all()
    for t in threads:
        t.join(TIMEOUT)
    assert results == [True, True, True]
    assert cond._wait_semaphore.get_value() == 0


def test_condition_with_plain_lock_and_recursive_rlock() -> None:
    cond = mproc.Condition(mproc.Lock())
    with cond:
        assert cond.wait(0.01) is False
    rlock = mproc.RLock()
    cond = mproc.Condition(rlock)
    with rlock, cond:  # held twice: wait must release both levels and restore them
        assert rlock._depth == 2
        assert cond.wait(0.01) is False
        assert rlock._depth == 2


def test_event_in_one_process() -> None:
    event = mproc.Event()
    assert not event.is_set()
    assert event.wait(0) is False
    start = time.monotonic()
    assert event.wait(0.1) is False
    assert time.monotonic() - start >= 0.09
    event.set()
    assert event.is_set() and event.wait() and event.wait(0)
    assert "set>" in repr(event) and "unset" not in repr(event)
    event.clear()
    assert not event.is_set() and "unset>" in repr(event)


def test_barrier_in_threads() -> None:
    hits = Cells(1)
    barrier = mproc.Barrier(3, action=_CountAction(hits), timeout=TIMEOUT)
    assert barrier.parties == 3 and barrier.n_waiting == 0 and not barrier.broken
    indices: list[int] = []

    def run() -> None:
        for _ in range(5):
            indices.append(barrier.wait())

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(indices) == sorted([0, 1, 2] * 5)
    assert hits[0] == 5
    assert barrier.n_waiting == 0 and not barrier.broken


def test_barrier_timeout_abort_reset() -> None:
    barrier = mproc.Barrier(2)
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(0.05)
    assert barrier.broken
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait()
    barrier.reset()
    assert not barrier.broken
    assert mproc.Barrier(1).wait() == 0

    outcome: list[object] = []

    def waiter() -> None:
        try:
            outcome.append(barrier.wait(TIMEOUT))
        except threading.BrokenBarrierError as exc:
            outcome.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    deadline = time.monotonic() + TIMEOUT
    while barrier.n_waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    barrier.reset()  # the waiter is thrown out; the barrier is usable again
    t.join(TIMEOUT)
    assert isinstance(outcome[0], threading.BrokenBarrierError)
    assert not barrier.broken

    def failing_action() -> None:
        raise ZeroDivisionError

    broken = mproc.Barrier(1, action=failing_action)
    with pytest.raises(ZeroDivisionError):
        broken.wait()
    assert broken.broken
    broken.abort()
    with pytest.raises(threading.BrokenBarrierError):
        broken.wait()


@pytest.mark.parametrize("factory", [
    lambda: mproc.Lock(), lambda: mproc.RLock(), lambda: mproc.Semaphore(),
    lambda: mproc.BoundedSemaphore(), lambda: mproc.Condition(), lambda: mproc.Event(),
    lambda: mproc.Barrier(2),
], ids=["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier"])
def test_pickling_outside_process_start_is_refused(factory) -> None:
    obj = factory()
    name = type(obj).__name__
    with pytest.raises(RuntimeError,
                       match=f"{name} objects should only be shared between processes "
                             "through inheritance"):
        pickle.dumps(obj)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_fork_context_lock_cannot_go_to_spawned_child(method: str) -> None:
    lock = mproc.get_context("fork").Lock()
    p = mproc.get_context(method).Process(target=_noop, args=(lock,))
    with pytest.raises(RuntimeError, match="A SemLock created in a fork context is being "
                                           f"shared with a process in a {method} context"):
        p.start()


# -- across processes ---------------------------------------------------------------


def test_lock_sells_exactly_the_tickets(ctx) -> None:
    lock, tickets, bought = ctx.Lock(), Cells(1), Cells(5)
    tickets[0] = 3
    procs = tuple(ctx.Process(target=_buy_ticket, args=(lock, tickets, bought, i))
                  for i in range(5))
    with started(*procs):
        assert _join_all(procs) == [0] * 5
    assert tickets[0] == 0
    assert sum(bought[i] for i in range(5)) == 3


def test_semaphore_lets_two_in_at_a_time(ctx) -> None:
    sem, guard, stats = ctx.Semaphore(2), ctx.Lock(), Cells(2)
    procs = tuple(ctx.Process(target=_sing, args=(sem, guard, stats)) for _ in range(5))
    with started(*procs):
        assert _join_all(procs) == [0] * 5
    assert stats[0] == 0
    assert stats[1] == 2
    assert sem.get_value() == 2


def test_event_traffic_light_stops_and_releases_cars(ctx) -> None:
    event, passed = ctx.Event(), Cells(6)
    light = ctx.Process(target=_traffic_light, args=(event, 0.05), daemon=True)
    cars = tuple(ctx.Process(target=_car, args=(event, passed, i)) for i in range(6))
    with started(light, *cars):
        assert _join_all(cars) == [0] * 6
        light.terminate()
        light.join(TIMEOUT)
    assert [passed[i] for i in range(6)] == [1] * 6


def test_event_set_by_a_child_wakes_the_parent(ctx) -> None:
    event = ctx.Event()
    p = ctx.Process(target=_set_later, args=(event, 0.2))
    with started(p):
        start = time.monotonic()
        assert event.wait(TIMEOUT) is True
        assert time.monotonic() - start >= 0.15
        p.join(TIMEOUT)
    assert p.exitcode == 0


def test_lock_released_by_another_process(ctx) -> None:
    lock = ctx.Lock()
    lock.acquire()
    p = ctx.Process(target=_release, args=(lock,))
    with started(p):
        p.join(TIMEOUT)
    assert p.exitcode == 0
    assert not lock.locked()


def test_condition_notify_one_then_all(ctx) -> None:
    cond, sleeping, woken = ctx.Condition(), ctx.Semaphore(0), ctx.Semaphore(0)
    procs = tuple(ctx.Process(target=_cond_waiter, args=(cond, sleeping, woken, TIMEOUT))
                  for _ in range(3))
    with started(*procs):
        for _ in procs:
            assert sleeping.acquire(timeout=TIMEOUT)
        with cond:  # every waiter released the lock inside wait() by now
            cond.notify()
        assert woken.acquire(timeout=TIMEOUT)
        assert not woken.acquire(timeout=0.3)
        with cond:
            cond.notify_all()
        assert woken.acquire(timeout=TIMEOUT) and woken.acquire(timeout=TIMEOUT)
        assert _join_all(procs) == [0] * 3
    assert cond._sleeping_count.get_value() - cond._woken_count.get_value() == 0
    assert cond._wait_semaphore.get_value() == 0


def test_condition_wait_times_out_in_child(ctx) -> None:
    cond, sleeping, woken = ctx.Condition(), ctx.Semaphore(0), ctx.Semaphore(0)
    p = ctx.Process(target=_cond_waiter, args=(cond, sleeping, woken, 0.2))
    with started(p):
        assert sleeping.acquire(timeout=TIMEOUT)
        p.join(TIMEOUT)
    assert p.exitcode == 0
    assert woken.get_value() == 0
    with cond:
        cond.notify()  # the timed-out sleeper took itself off: no stale post
    assert cond._wait_semaphore.get_value() == 0


def test_barrier_across_processes(ctx) -> None:
    hits, out = Cells(1), Cells(3)
    barrier = ctx.Barrier(3, action=_CountAction(hits), timeout=TIMEOUT)
    procs = tuple(ctx.Process(target=_barrier_wait, args=(barrier, out, i)) for i in range(2))
    with started(*procs):
        out[2] = barrier.wait() + 1
        assert _join_all(procs) == [0, 0]
    assert sorted(out[i] for i in range(3)) == [1, 2, 3]
    assert hits[0] == 1


def test_barrier_abort_reaches_waiting_children(ctx) -> None:
    out = Cells(2)
    barrier = ctx.Barrier(3)
    procs = tuple(ctx.Process(target=_barrier_wait, args=(barrier, out, i)) for i in range(2))
    with started(*procs):
        deadline = time.monotonic() + TIMEOUT
        while barrier.n_waiting < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        barrier.abort()
        assert _join_all(procs) == [0, 0]
    assert [out[0], out[1]] == [-1, -1]
    assert barrier.broken


def test_rlock_held_by_parent_is_not_owned_in_fork_child() -> None:
    ctx = mproc.get_context("fork")
    lock, out = ctx.RLock(), Cells(3)
    with lock:
        p = ctx.Process(target=_check_rlock_after_fork, args=(lock, out))
        with started(p):
            p.join(TIMEOUT)
        assert p.exitcode == 0
        assert lock._is_owned()
    assert [out[0], out[1], out[2]] == [0, 0, 1]


# -- a holder that dies -------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_lock_of_killed_holder_is_recovered(ctx, kind: str, sig: int) -> None:
    lock, ready = getattr(ctx, kind)(), ctx.Event()
    p = ctx.Process(target=_hold, args=(lock, ready, 60), daemon=True)
    with started(p):
        assert ready.wait(TIMEOUT)
        assert f"pid {p.pid}" in repr(lock)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a live holder is never "recovered"
            assert lock.acquire(timeout=0.3) is False
        os.kill(p.pid, sig)
        p.join(TIMEOUT)
        assert p.exitcode == -sig
        start = time.monotonic()
        with pytest.warns(LockRecoveredWarning, match=f"process {p.pid}, which died"):
            assert lock.acquire(timeout=TIMEOUT) is True
        assert time.monotonic() - start < 2
        assert lock._is_owned()
        lock.release()
        assert not lock.locked()
        with lock:  # back to normal
            pass


def _take_and_give_back(lock):
    with lock:
        pass


def test_stale_token_of_a_dead_acquirer_needs_two_slices(ctx) -> None:
    """A dead *previous* acquirer's token is not acted on at the first look.

    Lock's release leaves its token, so the cell can name a process that died after
    releasing while a live process has taken the semaphore and not yet stored its own
    token. The parent plays that live process by taking the C semaphore directly.
    """
    lock = ctx.Lock()
    p = ctx.Process(target=_take_and_give_back, args=(lock,))
    with started(p):
        p.join(TIMEOUT)
    assert p.exitcode == 0
    assert lock._cells[lock._slot] & 0xFFFFFF == p.pid  # the dead process's token stays
    assert _c_acquire(lock, False)  # held, token not (yet) ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert lock.acquire(timeout=POLL_INTERVAL * 1.5) is False
        # Still unchanged after a second slice: now the token's process is taken to be
        # the holder (it died between taking the semaphore and storing its token).
        with pytest.warns(LockRecoveredWarning, match=f"process {p.pid}, which died"):
            assert lock.acquire(timeout=TIMEOUT) is True
    finally:
        lock.release()
    assert not lock.locked()


def test_recovered_lock_still_excludes(ctx) -> None:
    lock, ready, stats = ctx.Lock(), ctx.Event(), Cells(3)
    holder = ctx.Process(target=_hold, args=(lock, ready, 60), daemon=True)
    waiters = tuple(ctx.Process(target=_enter_after_recovery, args=(lock, stats))
                    for _ in range(3))
    with started(holder):
        assert ready.wait(TIMEOUT)
        with started(*waiters):
            time.sleep(0.2)
            holder.kill()
            holder.join(TIMEOUT)
            assert _join_all(waiters) == [0, 0, 0]
    assert stats[1] == 1  # never two inside at once
    assert stats[2] == 3  # and every waiter got in
    assert not lock.locked()


# -- nothing left behind ------------------------------------------------------------


def _fds() -> set[str]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            found.add(f"{name}:{os.readlink(f'/proc/self/fd/{name}')}")
        except OSError:
            pass
    return found


def _my_semaphores() -> list[str]:
    prefix = f"sem.mp-{os.getpid()}-"
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(prefix))


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_500_locks_created_and_dropped_leave_nothing(method: str) -> None:
    ctx = mproc.get_context(method)
    gc.collect()
    fds_before, sems_before = _fds(), _my_semaphores()
    for i in range(500):
        lock = ctx.Lock()
        lock.acquire()
        if method != "fork" and i == 0:
            assert len(_my_semaphores()) == len(sems_before) + 1  # linked while alive
        lock.release()
        del lock
    for _ in range(20):
        objs = [ctx.RLock(), ctx.Semaphore(), ctx.BoundedSemaphore(), ctx.Condition(),
                ctx.Event(), ctx.Barrier(2)]
        del objs
    gc.collect()
    assert _my_semaphores() == sems_before
    assert _fds() - fds_before == set()
    assert not [fd for fd in _fds() if "mproc-sync" in fd]


def test_name_stays_linked_while_a_spawned_child_may_need_it() -> None:
    ctx = mproc.get_context("spawn")
    lock = ctx.Lock()
    name = lock._semlock.name
    assert f"sem.{name[1:]}" in os.listdir("/dev/shm")
    p = ctx.Process(target=_release, args=(lock,))
    lock.acquire()
    del lock  # the launcher keeps it alive until the child has opened it
    with started(p):
        p.join(TIMEOUT)
    assert p.exitcode == 0
    del p
    gc.collect()
    assert f"sem.{name[1:]}" not in os.listdir("/dev/shm")
