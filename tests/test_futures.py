"""mproc.futures: the stdlib's Executor API, and what mproc's pool adds to it.

The crash matrix of the Pool (every way of dying at every phase) runs again for
futures: each case fails only its own future, with the Pool's error (a dead worker:
WorkerLostError, which is also a BrokenProcessPool), and the executor goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.process
import os
import tempfile
import threading
import time

import pytest

import mproc
import mproc.futures as mf
import mproc.pool
from mproc import errors

from .test_pool_crash import (
    CASES,
    FATAL,
    CrashOnDump,
    CrashOnLoad,
    _expected,
    identity,
    return_crash_on_dump,
    return_crash_on_load,  # noqa: I001
    run_and_crash,
)

TIMEOUT = 30


def square(x):
    return x * x


def add(x, y):
    return x + y


def sleep_then(seconds, value=None):
    time.sleep(seconds)
    return value


def touch_then_sleep(path, seconds):
    with open(path, "w") as file:
        file.write(str(os.getpid()))
    time.sleep(seconds)
    return "slept"


def fail(message):
    raise ValueError(message)


def pid_of(_=None):
    return os.getpid()


def set_env(name, value):
    os.environ[name] = value


def get_env(name):
    return os.environ.get(name)


def wait_for_file(path, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) or not os.path.getsize(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)
    with open(path) as file:
        return int(file.read())


@pytest.fixture
def executor(ctx):
    ex = mf.ProcessPoolExecutor(2, mp_context=ctx)
    yield ex
    ex.shutdown(wait=True, cancel_futures=True)


# -- the stdlib's behaviour ---------------------------------------------------------

def test_submit_map_and_real_futures(executor):
    future = executor.submit(pow, 2, 10)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(TIMEOUT) == 1024
    assert list(executor.map(square, range(10))) == [i * i for i in range(10)]
    assert list(executor.map(add, range(5), range(10, 20))) == [i + i + 10 for i in range(5)]
    assert list(executor.map(square, range(9), chunksize=4)) == [i * i for i in range(9)]
    assert list(executor.map(square, [])) == []
    done, pending = concurrent.futures.wait([executor.submit(square, i) for i in range(5)],
                                            timeout=TIMEOUT)
    assert not pending and sorted(f.result() for f in done) == [0, 1, 4, 9, 16]
    fs = [executor.submit(square, i) for i in range(5)]
    assert sorted(f.result() for f in concurrent.futures.as_completed(fs, TIMEOUT)) == \
        [0, 1, 4, 9, 16]


def test_keywords_all_go_to_the_function(executor):
    def show(**kwargs):
        return sorted(kwargs.items())

    assert executor.submit(show, task_timeout=1, fn=2).result(TIMEOUT) == \
        [("fn", 2), ("task_timeout", 1)]


def test_lambdas_closures_and_main_functions(executor):
    offset = 5
    assert executor.submit(lambda x: x + offset, 1).result(TIMEOUT) == 6
    assert list(executor.map(lambda x: x * offset, range(3))) == [0, 5, 10]


def test_exception_and_traceback(executor):
    future = executor.submit(fail, "boom")
    with pytest.raises(ValueError, match="boom") as info:
        future.result(TIMEOUT)
    assert isinstance(info.value.__cause__, mproc.pool.RemoteTraceback)
    assert isinstance(future.exception(), ValueError)


def test_map_raises_at_the_failing_item_and_drops_the_rest(executor):
    results = executor.map(lambda x: 1 // (x - 3), range(6))
    assert [next(results) for _ in range(3)] == [-1, -1, -1]
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_map_timeout(executor):
    # map's timeout counts from the call, worker start-up included: warm a worker
    # first, and leave a loaded machine's spawn (seconds) room under the timeout
    assert executor.submit(square, 2).result(60) == 4
    results = executor.map(sleep_then, [0.0, 10.0], timeout=2.0)
    assert next(results) is None
    started = time.monotonic()
    with pytest.raises(concurrent.futures.TimeoutError):
        next(results)
    assert time.monotonic() - started < 5


def test_map_buffersize_reads_the_input_lazily(executor):
    pulled = []

    def numbers():
        for i in range(20):
            pulled.append(i)
            yield i

    results = executor.map(square, numbers(), buffersize=3)
    assert len(pulled) == 3  # submitted at once, as the stdlib's, but only 3 ahead
    assert next(results) == 0
    assert len(pulled) <= 5
    assert list(results) == [i * i for i in range(1, 20)]
    with pytest.raises(ValueError):
        executor.map(square, range(3), buffersize=0)
    with pytest.raises(TypeError):
        executor.map(square, range(3), buffersize=1.5)
    with pytest.raises(ValueError):
        executor.map(square, range(3), chunksize=0)


def test_shutdown_and_cancel_futures(ctx):
    executor = mf.ProcessPoolExecutor(2, mp_context=ctx)
    fs = [executor.submit(sleep_then, 0.1, i) for i in range(30)]
    executor.shutdown(wait=True, cancel_futures=True)
    cancelled = [f for f in fs if f.cancelled()]
    finished = [f for f in fs if not f.cancelled()]
    assert len(cancelled) > 10
    assert all(f.done() for f in fs)
    assert all(f.result() == fs.index(f) for f in finished)
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(square, 1)
    assert executor._processes == {} or all(not p.is_alive() for p in
                                            executor._processes.values())


def test_shutdown_without_wait_finishes_the_work(ctx):
    executor = mf.ProcessPoolExecutor(2, mp_context=ctx)
    fs = [executor.submit(sleep_then, 0.05, i) for i in range(6)]
    executor.shutdown(wait=False)
    assert [f.result(TIMEOUT) for f in fs] == list(range(6))


def test_dropped_executor_finishes_its_futures(ctx):
    executor = mf.ProcessPoolExecutor(2, mp_context=ctx)
    future = executor.submit(sleep_then, 0.2, "kept")
    del executor
    assert future.result(TIMEOUT) == "kept"


def test_initializer_and_max_tasks_per_child(start_method):
    if start_method == "fork":
        with pytest.raises(ValueError, match="fork"):
            mf.ProcessPoolExecutor(1, mp_context=mproc.get_context("fork"),
                                   max_tasks_per_child=1)
        return
    ctx = mproc.get_context(start_method)
    with mf.ProcessPoolExecutor(1, mp_context=ctx, max_tasks_per_child=2,
                                initializer=set_env,
                                initargs=("MPROC_TEST_INIT", "yes")) as executor:
        pids = [executor.submit(pid_of).result(TIMEOUT) for _ in range(6)]
        assert executor.submit(get_env, "MPROC_TEST_INIT").result(TIMEOUT) == "yes"
    assert len(set(pids)) == 3


def test_failing_initializer_breaks_the_executor(ctx):
    with mf.ProcessPoolExecutor(2, mp_context=ctx, initializer=fail,
                                initargs=("init",)) as executor:
        future = executor.submit(square, 3)
        with pytest.raises(concurrent.futures.process.BrokenProcessPool) as info:
            future.result(TIMEOUT)
        assert isinstance(info.value, errors.StartupError)
        with pytest.raises(concurrent.futures.process.BrokenProcessPool):
            executor.submit(square, 3).result(TIMEOUT)


def test_argument_checks():
    with pytest.raises(ValueError, match="greater than 0"):
        mf.ProcessPoolExecutor(0)
    with pytest.raises(TypeError, match="callable"):
        mf.ProcessPoolExecutor(1, initializer=3)
    with pytest.raises(TypeError, match="integer"):
        mf.ProcessPoolExecutor(1, max_tasks_per_child="3")
    with pytest.raises(ValueError, match=">= 1"):
        mf.ProcessPoolExecutor(1, max_tasks_per_child=0)
    with pytest.raises(ValueError, match="task_timeout"):
        mf.ProcessPoolExecutor(1, task_timeout=-1)
    with pytest.raises(ValueError, match="greater than 0"):
        mf.ThreadPoolExecutor(0)


# -- a dead worker fails only its own future: the crash matrix ------------------------

def _submit(executor, phase: str, kind: str):
    if phase == "pickle_task":
        return executor.submit(identity, CrashOnDump(kind))
    if phase == "unpickle_task":
        return executor.submit(identity, CrashOnLoad(kind))
    if phase == "run":
        return executor.submit(run_and_crash, kind)
    if phase == "pickle_result":
        return executor.submit(return_crash_on_dump, kind)
    return executor.submit(return_crash_on_load, kind)


@pytest.mark.parametrize("phase,kind", CASES)
def test_crash_matrix(executor, phase, kind):
    expected, text = _expected(phase, kind)
    before = [executor.submit(square, i) for i in range(4)]
    future = _submit(executor, phase, kind)
    after = [executor.submit(square, i) for i in range(4, 8)]
    with pytest.raises(expected) as info:
        future.result(TIMEOUT)
    assert text in str(info.value)
    if kind in FATAL:
        assert isinstance(info.value, concurrent.futures.process.BrokenProcessPool)
        assert isinstance(info.value, mf.WorkerLostError)
        assert "submit(tests.test_pool_crash." in info.value.task
    assert [f.result(TIMEOUT) for f in before + after] == [i * i for i in range(8)]
    assert list(executor.map(square, range(10))) == [i * i for i in range(10)]
    assert len(executor._processes) == 2


def test_killed_worker_in_a_map_fails_that_chunk_only(executor):
    results = executor.map(lambda x: os._exit(9) if x == 5 else x, range(8), chunksize=2)
    assert [next(results) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(mf.WorkerLostError, match="items 4-5"):
        next(results)
    assert executor.submit(square, 4).result(TIMEOUT) == 16


# -- per-task timeouts and stopping a running task ---------------------------------------

def test_task_timeouts(ctx):
    with mf.ProcessPoolExecutor(2, mp_context=ctx, task_timeout=0.5) as executor:
        started = time.monotonic()
        with pytest.raises(errors.TaskTimeoutError, match="timeout of 0.5 s"):
            executor.submit(sleep_then, 30).result(TIMEOUT)
        assert time.monotonic() - started < 10
        assert executor.options(task_timeout=None).submit(sleep_then, 1, "ok").result(
            TIMEOUT) == "ok"
        results = executor.map(sleep_then, [0, 30, 0], task_timeout=0.3)
        assert next(results) is None
        with pytest.raises(errors.TaskTimeoutError):
            next(results)
        assert executor.options(task_timeout=0.3).map(square, range(3)) is not None
        assert executor.submit(square, 3).result(TIMEOUT) == 9


def test_cancel_running_task_kills_it(executor):
    with tempfile.TemporaryDirectory() as tmp:
        marker = os.path.join(tmp, "started")
        future = executor.submit(touch_then_sleep, marker, 60)
        pid = wait_for_file(marker)
        assert future.running() and not future.cancel()  # the stdlib's meaning
        started = time.monotonic()
        assert future.cancel(running=True)
        assert future.cancelled() and future.done()
        with pytest.raises(concurrent.futures.CancelledError):
            future.result(TIMEOUT)
        while pid in executor._processes and time.monotonic() - started < TIMEOUT:
            time.sleep(0.01)
        assert pid not in executor._processes
        assert executor.submit(square, 5).result(TIMEOUT) == 25
        assert not future.cancel(running=True) or future.cancelled()


def test_cancel_a_sent_task_before_it_starts(ctx):
    with tempfile.TemporaryDirectory() as tmp, \
            mf.ProcessPoolExecutor(1, mp_context=ctx) as executor:
        first_marker = os.path.join(tmp, "first")
        second_marker = os.path.join(tmp, "second")
        first = executor.submit(touch_then_sleep, first_marker, 1)
        second = executor.submit(touch_then_sleep, second_marker, 0)
        wait_for_file(first_marker)
        assert second.cancel(running=True) and second.cancelled()
        assert first.result(TIMEOUT) == "slept"  # the task ahead of it is not harmed
        assert executor.submit(square, 2).result(TIMEOUT) == 4
        assert not os.path.exists(second_marker)


def test_cancel_callbacks_and_waiters(executor):
    with tempfile.TemporaryDirectory() as tmp:
        marker = os.path.join(tmp, "started")
        future = executor.submit(touch_then_sleep, marker, 60)
        seen = []
        future.add_done_callback(lambda f: seen.append(f.cancelled()))
        wait_for_file(marker)
        waiter = threading.Thread(target=concurrent.futures.wait, args=([future],))
        waiter.start()
        assert future.cancel(running=True)
        waiter.join(TIMEOUT)
        assert not waiter.is_alive() and seen == [True]


# -- asyncio -------------------------------------------------------------------------

def test_run_in_executor_and_wrap_future(executor):
    async def main():
        loop = asyncio.get_running_loop()
        values = await asyncio.gather(*(loop.run_in_executor(executor, square, i)
                                        for i in range(10)))
        wrapped = await asyncio.wrap_future(executor.submit(add, 2, 3))
        return values, wrapped

    values, wrapped = asyncio.run(asyncio.wait_for(main(), TIMEOUT))
    assert values == [i * i for i in range(10)] and wrapped == 5


# -- progress ------------------------------------------------------------------------

def test_map_progress(executor):
    seen = []
    assert list(executor.map(square, range(12), chunksize=3,
                             progress=lambda done, total: seen.append((done, total)))) == \
        [i * i for i in range(12)]
    assert seen[-1] == (12, 12) and len(seen) == 4


# -- threads -------------------------------------------------------------------------

def test_thread_pool_executor():
    with mf.ThreadPoolExecutor(3, thread_name_prefix="worker") as executor:
        assert executor.submit(lambda: threading.current_thread().name).result(
            TIMEOUT).startswith("worker_")
        assert list(executor.map(square, range(5))) == [0, 1, 4, 9, 16]
        with pytest.raises(errors.TaskTimeoutError):
            executor.options(task_timeout=0.2).submit(time.sleep, 2).result(TIMEOUT)
        release = threading.Event()
        running = executor.submit(release.wait, TIMEOUT)
        time.sleep(0.1)
        assert running.cancel(running=True) and running.cancelled()
        release.set()
        assert executor.submit(square, 6).result(TIMEOUT) == 36
    with mf.ThreadPoolExecutor(1, initializer=fail, initargs=("init",)) as executor:
        with pytest.raises(concurrent.futures.thread.BrokenThreadPool):
            executor.submit(square, 1).result(TIMEOUT)


def sleep_then_mark(seconds, path):
    time.sleep(seconds)
    with open(path, "w") as file:
        file.write("done")
    return "marked"


def test_cancel_racing_the_start_never_lets_a_cancelled_task_finish(ctx):
    """Cancel the second task at varying moments around the end of the first: the first
    always completes; a cancelled second never completes; an uncancelled one does."""
    with tempfile.TemporaryDirectory() as tmp, \
            mf.ProcessPoolExecutor(1, mp_context=ctx) as executor:
        outcomes = set()
        for round_ in range(30):
            mark = os.path.join(tmp, f"second-{round_}")
            first = executor.submit(sleep_then, 0.02, round_)
            second = executor.submit(sleep_then_mark, 0.05, mark)
            time.sleep((round_ % 10) * 0.005)
            cancelled = second.cancel(running=True)
            assert first.result(TIMEOUT) == round_
            if cancelled:
                assert second.cancelled()
                time.sleep(0.1)
                assert not os.path.exists(mark), f"round {round_}: cancelled task finished"
            else:
                assert second.result(TIMEOUT) == "marked"
            outcomes.add(cancelled)
        assert True in outcomes
        assert executor.submit(square, 7).result(TIMEOUT) == 49


_ISOLATED = """
import os, pickle, sys
import mproc.futures as mf
assert "multiprocessing" not in sys.modules, "mproc.futures loaded the stdlib"
assert "concurrent.futures.process" not in sys.modules
with mf.ProcessPoolExecutor(1, mp_context=__import__("mproc").get_context("fork")) as ex:
    first = ex.submit(os._exit, 3).exception(30)
    assert isinstance(first, mf.WorkerLostError), first
    assert isinstance(first, mf.BrokenExecutor), type(first).__mro__
    import concurrent.futures.process as cfp
    second = ex.submit(os._exit, 3).exception(30)
    assert isinstance(second, mf.WorkerLostError) and isinstance(second, cfp.BrokenProcessPool)
    again = pickle.loads(pickle.dumps(second))
    assert isinstance(again, cfp.BrokenProcessPool) and again.args == second.args
    assert again.pid == second.pid
print("ok")
"""


def test_the_executor_does_not_load_the_stdlib_and_its_errors_join_it_once_loaded():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _ISOLATED], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_thread_pool_with_a_timeout_monitor_still_wakes_its_workers():
    """The monitor of timed tasks and the idle workers waited on one condition, so a
    submit could wake the monitor instead of a worker and the task waited for ever."""
    with mproc.pool.ThreadPool(1) as pool:
        assert pool.apply(square, (2,), timeout=30) == 4  # the monitor now waits
        for i in range(20):
            assert pool.apply_async(square, (i,)).get(5) == i * i
    with mf.ThreadPoolExecutor(1) as executor:
        assert executor.options(task_timeout=30).submit(square, 2).result(5) == 4
        for i in range(20):
            assert executor.submit(square, i).result(5) == i * i
