"""Lock and RLock with acquire in C (``mproc._sync._fastlock``) and the pure-Python
fallback: which one is active, that both keep the lock's contract (timeouts, signals,
recursion, ownership, recovery from a dead holder, sharing with spawned children),
and that ``MPROC_PURE_PYTHON=1`` selects the fallback. tests/test_sync.py runs on
whichever is active; run it with ``MPROC_PURE_PYTHON=1`` too for the other one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

import mproc
from mproc._sync import locks, semlock
from mproc._sync.cells import Cells
from mproc.synchronize import LockRecoveredWarning

from .helpers import started

TIMEOUT = 20
KINDS = ["Lock", "RLock"]

try:
    from mproc._sync import _fastlock  # type: ignore[attr-defined]
except ImportError:
    _fastlock = None

needs_c = pytest.mark.skipif(locks.IMPLEMENTATION != "c", reason="the C extension is not active")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.pop("MPROC_PURE_PYTHON", None)
    full.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env=full, stdin=subprocess.DEVNULL)


# -- children ------------------------------------------------------------------------


def _hold(lock, ready, seconds):
    lock.acquire()
    if isinstance(lock, locks.RLock):
        lock.acquire()  # held twice: a dead holder's depth does not matter
    ready.set()
    time.sleep(seconds)


def _hold_then_release(lock, ready, go, out):
    with lock:
        if isinstance(lock, locks.RLock):
            with lock:
                out[1] = lock._count()
        out[0] = os.getpid()
        ready.set()
        go.wait(TIMEOUT)


def _count_up(lock, value, n):
    for _ in range(n):
        lock.acquire()
        value[0] += 1
        lock.release()
        with lock:
            value[0] += 1


# -- which implementation ------------------------------------------------------------


def test_implementation_is_reported_and_the_env_var_selects_python() -> None:
    assert locks.IMPLEMENTATION in ("c", "python")
    if _fastlock is not None and not os.environ.get("MPROC_PURE_PYTHON"):
        assert locks.IMPLEMENTATION == "c"
    code = """
        import mproc, mproc._sync.locks as L
        lock, rlock = mproc.Lock(), mproc.RLock()
        with lock, rlock, rlock:
            pass
        native = ("_multiprocessing", "mproc._sync._fastlock")  # the C type it is built on
        print(L.IMPLEMENTATION, next(c.__name__ for c in type(lock).__mro__
                                     if c.__module__ in native))
    """
    proc = _python(code, MPROC_PURE_PYTHON="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["python", "SemLock"]
    if _fastlock is not None:
        proc = _python(code, MPROC_PURE_PYTHON="0")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["c", "Lock"]


def test_a_semaphore_type_of_unknown_layout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    if _fastlock is None:
        pytest.skip("the C extension is not built")

    class NotASemaphore:
        pass

    with pytest.raises((RuntimeError, TypeError)):
        _fastlock.init(NotASemaphore, 0.1)
    with pytest.raises(TypeError):
        _fastlock.init(semlock.SemLock)
    monkeypatch.delenv("MPROC_PURE_PYTHON", raising=False)
    assert semlock.fast_types(0.1) is not None  # the real one passes its checks


def test_fast_types_honours_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPROC_PURE_PYTHON", "1")
    assert semlock.fast_types(0.1) is None


def test_the_fallback_recovers_and_shares_with_a_spawned_child() -> None:
    """The whole pure-Python path in one program: a killed holder, a spawn child."""
    code = f"""
        import os, signal, sys, warnings
        sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})
        import mproc, mproc._sync.locks as L
        from tests.test_fastlock import _hold, _hold_then_release
        from mproc._sync.cells import Cells
        assert L.IMPLEMENTATION == "python"
        ctx = mproc.get_context("spawn")
        for kind in ("Lock", "RLock"):
            lock, ready = getattr(ctx, kind)(), ctx.Event()
            p = ctx.Process(target=_hold, args=(lock, ready, 60), daemon=True)
            p.start()
            assert ready.wait(20)
            assert lock.acquire(timeout=0.2) is False
            os.kill(p.pid, signal.SIGKILL)
            p.join(20)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert lock.acquire(timeout=20) is True
            assert any(issubclass(w.category, mproc.synchronize.LockRecoveredWarning)
                       for w in caught)
            lock.release()
            ready.clear()
            go, out = ctx.Event(), Cells(3)
            p = ctx.Process(target=_hold_then_release, args=(lock, ready, go, out))
            p.start()
            assert ready.wait(20)
            assert lock.locked() and lock.acquire(False) is False
            go.set()
            p.join(20)
            assert p.exitcode == 0 and out[0] == p.pid
            assert lock.acquire(timeout=5)
            lock.release()
        print("ok")
    """
    proc = _python(code, MPROC_PURE_PYTHON="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "ok"


# -- the contract, on whichever implementation is active ------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_acquire_arguments_like_the_semaphore(kind: str) -> None:
    lock = getattr(mproc, kind)()
    assert lock.acquire() is True
    lock.release()
    assert lock.acquire(False) is True
    lock.release()
    assert lock.acquire(block=False) is True
    lock.release()
    assert lock.acquire(True, None) is True
    lock.release()
    assert lock.acquire(timeout=0.01) is True
    lock.release()
    assert lock.acquire(block=True, timeout=1) is True
    lock.release()
    with pytest.raises(TypeError):
        lock.acquire(True, 1.0, 2)
    with pytest.raises(TypeError):
        lock.acquire(blocking=True)
    if locks.IMPLEMENTATION == "c":  # converted first, as the C semaphore does
        with pytest.raises(TypeError):
            lock.acquire(timeout="soon")
    assert not lock.locked()


@pytest.mark.parametrize("kind", KINDS)
def test_timeouts_against_another_process(kind: str) -> None:
    ctx = mproc.get_context("fork")
    lock, ready, go, out = getattr(ctx, kind)(), ctx.Event(), ctx.Event(), Cells(3)
    p = ctx.Process(target=_hold_then_release, args=(lock, ready, go, out))
    with started(p):
        assert ready.wait(TIMEOUT)
        for timeout, lowest in ((0, 0.0), (-1, 0.0), (0.05, 0.05), (0.35, 0.35)):
            start = time.monotonic()
            assert lock.acquire(timeout=timeout) is False
            took = time.monotonic() - start
            assert lowest * 0.9 <= took < lowest + 1.0, (timeout, took)
        assert lock.acquire(False) is False
        assert lock._count() == 0 and not lock._is_owned()
        go.set()
        assert lock.acquire(timeout=TIMEOUT) is True  # woken by the release
        assert lock._is_owned() and lock._count() == 1
        assert lock._cells[lock._slot] == locks._TOKEN
        lock.release()
        p.join(TIMEOUT)
    assert p.exitcode == 0  # the child's release (the one that woke us) did not fail


@pytest.mark.parametrize("via", ["acquire", "with"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_signal_interrupts_a_blocked_acquire(kind: str, via: str) -> None:
    lock = getattr(mproc, kind)()
    holder_has_it, done = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            holder_has_it.set()
            done.wait(TIMEOUT)

    class Interrupted(Exception):
        pass

    def on_alarm(signum: int, frame: object) -> None:
        raise Interrupted

    thread = threading.Thread(target=hold)
    thread.start()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        assert holder_has_it.wait(TIMEOUT)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        start = time.monotonic()
        with pytest.raises(Interrupted):
            if via == "with":
                with lock:
                    pass
            else:
                lock.acquire()
        assert time.monotonic() - start < 5
        assert not lock._is_owned()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        done.set()
        thread.join(TIMEOUT)
    assert not lock.locked()


def test_rlock_recursion_ownership_and_token() -> None:
    rlock = mproc.RLock()
    with pytest.raises(AssertionError):
        rlock.release()
    with rlock:
        assert rlock.acquire() and rlock.acquire(False) and rlock.acquire(timeout=0)
        assert rlock._count() == 4 and rlock._depth == 4
        assert "4)" in repr(rlock)
        other: list[object] = []

        def look() -> None:
            other.append((rlock._count(), rlock._is_owned(), rlock.acquire(timeout=0.05)))
            try:
                rlock.release()
            except AssertionError:
                other.append("refused")

        thread = threading.Thread(target=look)
        thread.start()
        thread.join(TIMEOUT)
        assert other == [(0, False, False), "refused"]
        assert "SomeOtherThread" not in repr(rlock)
        for _ in range(3):
            rlock.release()
        assert rlock._count() == 1
        assert rlock._cells[rlock._slot] == locks._TOKEN
    assert rlock._count() == 0 and not rlock.locked()
    assert rlock._cells[rlock._slot] == locks._TOKEN  # the final release leaves the token
    assert repr(rlock) == "<RLock(None, 0)>"


def test_lock_release_and_repr() -> None:
    lock = mproc.Lock()
    with pytest.raises(ValueError):
        lock.release()
    assert repr(lock) == "<Lock(owner=None)>"
    with lock:
        assert repr(lock) == "<Lock(owner=MainProcess)>"
        assert lock._count() == 1
    assert lock._count() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_shared_with_a_spawned_child(kind: str) -> None:
    ctx = mproc.get_context("spawn")
    lock, ready, go, out = getattr(ctx, kind)(), ctx.Event(), ctx.Event(), Cells(3)
    p = ctx.Process(target=_hold_then_release, args=(lock, ready, go, out))
    with started(p):
        assert ready.wait(TIMEOUT)
        assert lock.locked() and lock.acquire(False) is False
        assert f"pid {p.pid}" in repr(lock)
        assert lock._cells[lock._slot] & 0xFFFFFF == p.pid
        go.set()
        assert lock.acquire(timeout=TIMEOUT) is True
        lock.release()
        p.join(TIMEOUT)
    assert p.exitcode == 0
    assert out[0] == p.pid
    assert out[1] == (2 if kind == "RLock" else 0)


@pytest.mark.parametrize("kind", KINDS)
def test_dead_holder_recovered_under_each_start_method(ctx, kind: str) -> None:
    """The holder is killed while a waiter is already blocked (in C, then Python)."""
    lock, ready = getattr(ctx, kind)(), ctx.Event()
    p = ctx.Process(target=_hold, args=(lock, ready, 60), daemon=True)
    got: list[object] = []

    def wait_for_it() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got.append(lock.acquire(timeout=TIMEOUT))
        got.append([w.category for w in caught])
        got.append((lock._is_owned(), lock._cells[lock._slot] == locks._TOKEN))
        lock.release()

    with started(p):
        assert ready.wait(TIMEOUT)
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        time.sleep(0.15)  # the waiter is past its first slice
        p.kill()
        p.join(TIMEOUT)
        waiter.join(TIMEOUT)
    assert got[0] is True
    assert LockRecoveredWarning in got[1]  # type: ignore[operator]
    assert got[2] == (True, True)
    assert not lock.locked()
    with lock:
        pass


@pytest.mark.parametrize("spin", [(0, -1, 0, 0), (20000, -1, 0, 0), (20000, 2000, 0, 0),
                                  (50000, 10000, 1000, 16000)],
                         ids=["sleep", "spin", "spin+yield", "pauses+yield"])
@pytest.mark.parametrize("kind", KINDS)
@needs_c
def test_contended_between_processes_counts_exactly(kind: str, spin: tuple[int, int]) -> None:
    ctx = mproc.get_context("fork")
    lock, value = getattr(ctx, kind)(), Cells(1)
    previous = _fastlock._tune(*spin)
    try:
        procs = [ctx.Process(target=_count_up, args=(lock, value, 5000)) for _ in range(2)]
        with started(*procs):
            _count_up(lock, value, 5000)
            for p in procs:
                p.join(TIMEOUT)
    finally:
        _fastlock._tune(*previous)
    assert [p.exitcode for p in procs] == [0, 0]
    assert value[0] == 3 * 2 * 5000
    assert not lock.locked()


@needs_c
def test_the_c_methods_are_the_types_own() -> None:
    """No Python frame on the hot paths (what makes them as fast as the stdlib's)."""
    lock, rlock = mproc.Lock(), mproc.RLock()
    for method in ("acquire", "__enter__", "release", "__exit__"):
        assert type(getattr(lock, method)).__name__ == "builtin_function_or_method", method
        assert type(getattr(rlock, method)).__name__ == "builtin_function_or_method", method
