"""The crash matrix: every way a task can die, at every phase of its life, under
every start method. Each case must end in the expected error, never in a hang, and
the pool must go on: the other tasks complete and the next one runs.

Phases, and where they run::

    pickle_task      parent   the arguments are pickled (at submit time)
    unpickle_task    worker   the arguments are unpickled
    run              worker   the function runs
    pickle_result    worker   the result is pickled
    unpickle_result  parent   the result is unpickled

Ways of dying: a segfault, ``os._exit``, SIGKILL, an exception, an object that
cannot be (un)pickled. A fatal death in the parent would kill the test process
itself, so those cases do not exist.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import pickle
import signal
import threading
import time

import pytest

import mproc
from mproc import errors

TIMEOUT = 30
PHASES = ["pickle_task", "unpickle_task", "run", "pickle_result", "unpickle_result"]
KINDS = ["segfault", "exit", "sigkill", "exception", "unpicklable"]
IN_PARENT = {"pickle_task", "unpickle_result"}
FATAL = {"segfault", "exit", "sigkill"}


class CrashError(Exception):
    pass


class UnpicklableError(Exception):
    """An exception that cannot be pickled: it holds a lock."""

    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def crash(kind: str) -> None:
    if kind == "segfault":
        faulthandler.disable()  # inherited from pytest under fork: keep the log quiet
        ctypes.string_at(0)
    elif kind == "exit":
        os._exit(7)
    elif kind == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise CrashError(f"crash ({kind})")


class CrashOnLoad:
    """Pickles fine; unpickling it runs ``crash(kind)`` wherever that happens."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __reduce__(self):
        if self.kind == "unpicklable":
            return pickle.loads, (b"not a pickle",)
        return crash, (self.kind,)


class CrashOnDump:
    """Pickling it runs ``crash(kind)`` (or fails, for "unpicklable")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __reduce__(self):
        if self.kind == "unpicklable":
            raise TypeError("cannot pickle this object")
        crash(self.kind)


def identity(value):
    return value


def run_and_crash(kind: str):
    if kind == "unpicklable":
        raise UnpicklableError()
    crash(kind)


def return_crash_on_dump(kind: str):
    return CrashOnDump(kind)


def return_crash_on_load(kind: str):
    return CrashOnLoad(kind)


def square(x):
    return x * x


def _submit(pool, phase: str, kind: str):
    if phase == "pickle_task":
        return pool.apply_async(identity, (CrashOnDump(kind),))
    if phase == "unpickle_task":
        return pool.apply_async(identity, (CrashOnLoad(kind),))
    if phase == "run":
        return pool.apply_async(run_and_crash, (kind,))
    if phase == "pickle_result":
        return pool.apply_async(return_crash_on_dump, (kind,))
    return pool.apply_async(return_crash_on_load, (kind,))


def _expected(phase: str, kind: str) -> tuple[type[BaseException], str]:
    if kind in FATAL:
        return errors.WorkerLostError, {"segfault": "SIGSEGV", "exit": "exit code 7",
                                        "sigkill": "SIGKILL"}[kind]
    if phase == "pickle_task":
        return (CrashError, "crash") if kind == "exception" else (TypeError, "cannot pickle")
    if phase == "unpickle_task":
        if kind == "exception":
            return CrashError, "crash"
        return pickle.UnpicklingError, ""
    if phase == "run":
        if kind == "exception":
            return CrashError, "crash"
        return errors.MaybeEncodingError, "UnpicklableError"
    if phase == "pickle_result":
        return errors.MaybeEncodingError, "CrashOnDump" if kind == "exception" else "cannot"
    return errors.ResultUnpicklingError, "the result of"


CASES = [(phase, kind) for phase in PHASES for kind in KINDS
         if not (phase in IN_PARENT and kind in FATAL)]


@pytest.mark.parametrize("phase,kind", CASES)
def test_crash_matrix(ctx, phase, kind):
    expected, text = _expected(phase, kind)
    with ctx.Pool(2) as pool:
        pids = {w.pid for w in pool._pool}
        before = [pool.apply_async(square, (i,)) for i in range(4)]
        result = _submit(pool, phase, kind)
        after = [pool.apply_async(square, (i,)) for i in range(4, 8)]
        with pytest.raises(expected) as info:
            result.get(TIMEOUT)
        assert text in str(info.value)
        if kind in FATAL:
            error = info.value
            assert error.pid in pids and str(error.pid) in str(error)
            assert error.task in str(error) and "apply_async(tests.test_pool_crash." in error.task
        elif phase in ("unpickle_task", "run") and kind == "exception":
            cause = info.value.__cause__
            assert isinstance(cause, mproc.pool.RemoteTraceback) and "crash" in cause.tb
        # Every other task completes, and the pool goes on working.
        assert [r.get(TIMEOUT) for r in before + after] == [i * i for i in range(8)]
        assert pool.map(square, range(10), chunksize=1) == [i * i for i in range(10)]
        assert len(pool._pool) == 2


@pytest.mark.parametrize("kind", sorted(FATAL))
def test_crash_inside_a_map_chunk(ctx, kind):
    """A map whose worker dies fails with WorkerLostError naming the chunk's items."""
    with ctx.Pool(2) as pool:
        with pytest.raises(errors.WorkerLostError, match=r"items 4-7") as info:
            pool.map(_crash_at_five, [(i, kind) for i in range(12)], chunksize=4)
        assert info.value.exitcode is not None
        assert pool.map(square, range(6)) == [0, 1, 4, 9, 16, 25]


def _crash_at_five(item):
    value, kind = item
    if value == 5:
        crash(kind)
    return value


def test_worker_killed_while_idle_is_replaced_silently(ctx):
    with ctx.Pool(2) as pool:
        pids = [worker.pid for worker in pool._pool]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT  # idle: dead before any task is sent
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.01)
        assert pool.map(square, range(20), chunksize=1) == [i * i for i in range(20)]
        assert not set(pids) & {worker.pid for worker in pool._pool}


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:  # gone (ESRCH if it was reaped between open and read)
        return False
