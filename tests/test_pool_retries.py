"""Opt-in retries and per-task memory limits, under every start method.

``retries=N``: a task whose worker dies (SIGKILL, ``os._exit``, a segfault) runs
again, up to N times; then WorkerLostError lists every attempt. A task that raised
is never retried; a timed-out one only with ``retries_on_timeout=True``.
``memory_limit=``: a worker whose task takes its resident memory past the limit,
fast or slowly, is killed at once; the task fails with MemoryLimitError and the
pool goes on.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import time

import pytest

import mproc
from mproc.errors import MemoryLimitError, TaskTimeoutError, WorkerLostError

TIMEOUT = 60
MiB = 1 << 20


def _bump(counter: str) -> int:
    """Count this attempt in a file (attempts run in different processes)."""
    with open(counter, "a") as file:
        file.write("x")
    with open(counter) as file:
        return len(file.read())


def _die(how: str) -> None:
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "exit":
        os._exit(7)
    elif how == "segfault":
        faulthandler.disable()
        ctypes.string_at(0)


def _dies_first(counter: str, deaths: int, how: str, value: object = None) -> object:
    attempt = _bump(counter)
    if attempt <= deaths:
        _die(how)
    return value if value is not None else attempt


def _dies_once(counter: str) -> object:
    return _dies_first(counter, 1, "sigkill")


def _dies_first_item(item: int, counter: str, deaths: int) -> int:
    if item == 3:
        _dies_first(counter, deaths, "sigkill")
    return item * 10


def _raises(counter: str) -> None:
    _bump(counter)
    raise ValueError("a task that raised")


def _sleeps_first(counter: str) -> int:
    attempt = _bump(counter)
    if attempt == 1:
        time.sleep(30)
    return attempt


def _length(data: bytearray, counter: str) -> int:
    _dies_first(counter, 1, "sigkill")
    return len(data) + data[-1]


def _grow_fast(nbytes: int) -> int:
    block = bytearray(nbytes)  # written at once: a gigabyte in one call
    return len(block)


def _grow_slowly(step: int, steps: int) -> int:
    held = []
    for _ in range(steps):
        held.append(bytearray(step))
        time.sleep(0.01)
    return len(held)


def _small(x: int) -> int:
    return len(bytearray(MiB)) + x


@pytest.fixture
def counter(tmp_path):
    return str(tmp_path / "attempts")


@pytest.mark.parametrize("how", ["sigkill", "exit", "segfault"])
def test_a_lost_task_runs_again_until_it_succeeds(ctx, counter, how):
    with ctx.Pool(2) as pool:
        assert pool.apply(_dies_first, (counter, 2, how), retries=2) == 3


@pytest.mark.parametrize("how", ["sigkill", "exit", "segfault"])
def test_after_the_last_retry_the_error_lists_every_attempt(ctx, counter, how):
    codes = {"sigkill": -signal.SIGKILL, "exit": 7, "segfault": -signal.SIGSEGV}
    with ctx.Pool(2, retries=2) as pool:
        with pytest.raises(WorkerLostError) as info:
            pool.apply(_dies_first, (counter, 99, how))
        error = info.value
        assert len(error.attempts) == 3
        assert [code for _pid, code in error.attempts] == [codes[how]] * 3
        assert len({pid for pid, _code in error.attempts}) == 3  # three workers died
        assert "it ran 3 times (retries=2)" in str(error)
        for pid, _code in error.attempts:
            assert f"pid {pid}" in str(error)
        assert pool.apply(_small, (1,)) == MiB + 1  # the pool goes on


def test_without_retries_a_lost_task_fails_once(ctx, counter):
    with ctx.Pool(2) as pool:
        with pytest.raises(WorkerLostError) as info:
            pool.apply(_dies_first, (counter, 1, "sigkill"))
        assert len(info.value.attempts) == 1
        assert "retries=" not in str(info.value)
    assert _bump(counter) == 2  # it ran once


def test_every_call_that_submits_work_takes_retries(ctx, tmp_path):
    def fresh(name):
        return str(tmp_path / name)

    items = list(range(6))
    expected = [item * 10 for item in items]
    with ctx.Pool(2) as pool:
        assert pool.map(_dies_once, [fresh("map"), fresh("map2")], chunksize=1,
                        retries=1) == [2, 2]
        args = [(item, fresh("starmap"), 1) for item in items]
        assert pool.starmap(_dies_first_item, args, retries=1) == expected
        args = [(item, fresh("starmap_async"), 1) for item in items]
        assert pool.starmap_async(_dies_first_item, args, retries=1).get(TIMEOUT) == expected
        result = pool.apply_async(_dies_first, (fresh("apply_async"), 1, "exit", "ok"),
                                  retries=1)
        assert result.get(TIMEOUT) == "ok"
        assert pool.map_async(_dies_once, [fresh("map_async")], retries=1).get(
            TIMEOUT) == [2]
        assert list(pool.imap(_dies_once, [fresh("imap")], retries=1)) == [2]
        assert list(pool.imap_unordered(_dies_once, [fresh("imap_u")], retries=1)) == [2]


def test_a_task_that_raised_is_never_retried(ctx, counter):
    with ctx.Pool(2, retries=3) as pool:
        with pytest.raises(ValueError, match="a task that raised"):
            pool.apply(_raises, (counter,))
    assert _bump(counter) == 2


def test_a_timed_out_task_is_retried_only_when_asked(ctx, tmp_path):
    plain, asked = str(tmp_path / "plain"), str(tmp_path / "asked")
    with ctx.Pool(2, retries=2) as pool:
        with pytest.raises(TaskTimeoutError):
            pool.apply(_sleeps_first, (plain,), timeout=0.5)
        assert pool.apply(_sleeps_first, (asked,), timeout=0.5, retries_on_timeout=True) == 2
    assert _bump(plain) == 2


def test_a_call_overrides_the_pools_retries(ctx, counter):
    with ctx.Pool(2, retries=2) as pool:
        with pytest.raises(WorkerLostError):
            pool.apply(_dies_first, (counter, 1, "sigkill"), retries=0)


def test_a_large_argument_survives_a_retry(ctx, counter):
    data = bytearray(3 * MiB)  # crosses in shared memory, not in the pipe
    data[-1] = 5
    before = set(os.listdir("/dev/shm"))
    with ctx.Pool(2) as pool:
        assert pool.apply(_length, (data, counter), retries=1) == 3 * MiB + 5
    assert set(os.listdir("/dev/shm")) - before == set()  # nothing left behind


def test_bad_retries_fail_at_once(ctx):
    with pytest.raises(ValueError, match="retries must be >= 0"):
        ctx.Pool(1, retries=-1)
    with ctx.Pool(1) as pool:
        with pytest.raises(TypeError, match="retries must be an int"):
            pool.map(_small, [1], retries=1.5)


def test_a_fast_allocation_past_the_limit_is_stopped(ctx):
    limit = 200 * MiB
    with ctx.Pool(2, memory_limit=limit) as pool:
        started = time.monotonic()
        with pytest.raises(MemoryLimitError) as info:
            pool.apply(_grow_fast, (1 << 30,))
        took = time.monotonic() - started
        error = info.value
        assert isinstance(error, MemoryError)
        assert error.limit == limit
        assert limit < error.peak < limit + 200 * MiB, error.peak
        assert "memory_limit of 200.0 MiB" in str(error) and "_grow_fast" in str(error)
        assert took < 10
        assert pool.map(_small, range(4)) == [MiB + x for x in range(4)]  # goes on


def test_slow_growth_past_the_limit_is_stopped(ctx):
    with ctx.Pool(2) as pool:
        with pytest.raises(MemoryLimitError) as info:
            pool.apply(_grow_slowly, (5 * MiB, 200), memory_limit=150 * MiB)
        assert info.value.peak > 150 * MiB
        # under the limit, the same code finishes
        assert pool.apply(_grow_slowly, (MiB, 5), memory_limit=150 * MiB) == 5


def test_a_map_with_a_memory_limit_fails_only_the_task_past_it(ctx):
    with ctx.Pool(2) as pool:
        result = pool.map_async(_grow_fast, [MiB, 600 * MiB, MiB], chunksize=1,
                                memory_limit=300 * MiB)
        with pytest.raises(MemoryLimitError, match=r"item 1\)"):
            result.get(TIMEOUT)
        assert pool.map(_grow_fast, [MiB, 2 * MiB], memory_limit=300 * MiB) == [MiB, 2 * MiB]


def test_memory_limit_is_refused_where_it_cannot_be_measured():
    with pytest.raises(ValueError, match="memory_limit= is not supported by the 'threads'"):
        mproc.Pool(1, backend="threads", memory_limit=MiB)
    with mproc.pool.ThreadPool(1) as pool:
        with pytest.raises(ValueError, match="threads"):
            pool.map(_small, [1], memory_limit=MiB)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-5, ValueError), (1.5, TypeError),
                                        ("1G", TypeError)])
def test_bad_memory_limits_fail_at_once(bad, error):
    with pytest.raises(error, match="memory_limit"):
        mproc.Pool(1, memory_limit=bad)
