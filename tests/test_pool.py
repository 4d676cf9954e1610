"""Pool and ThreadPool: the stdlib API under every start method, and what mproc adds:
per-task timeouts, progress, lazy imap, dead workers replaced, Ctrl-C and a killed
parent leave no worker behind, the default size, large arrays through shared memory.

The crash matrix (each way of dying at each phase of a task) is in test_pool_crash.
"""

from __future__ import annotations

import functools
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest

import mproc
import mproc.dummy
import mproc.pool
from mproc import errors
from mproc._pool import cpus
from mproc.pool import ThreadPool

TIMEOUT = 30
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

# -- task functions (module level: importable under spawn and forkserver) ------------


def square(x):
    return x * x


def add(x, y):
    return x + y


def pid_of(_=None):
    return os.getpid()


def sleep_then(seconds, value=None):
    time.sleep(seconds)
    return value


def raise_value_error(x):
    raise ValueError(f"bad {x}")  # the line the remote traceback must show


def slow_item(x):
    if x == 3:
        time.sleep(60)
    return x


def start_child_and_hang(pid_file):
    child = subprocess.Popen(["sleep", "60"])
    with open(pid_file, "w") as file:
        file.write(str(child.pid))
    time.sleep(60)


_initialized = None


def set_initialized(value):
    global _initialized
    _initialized = value


def read_initialized(_=None):
    return _initialized


def failing_initializer():
    raise RuntimeError("initializer is broken")


class Scaler:
    def __init__(self, factor):
        self.factor = factor

    def scale(self, x):
        return self.factor * x


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:  # gone (ESRCH if it was reaped between open and read)
        return False


def _wait_gone(pids, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if _pid_alive(p)]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


# -- the stdlib API -----------------------------------------------------------------


def test_stdlib_api(ctx):
    calls = []
    with ctx.Pool(2) as pool:
        assert pool.apply(square, (7,)) == 49
        assert pool.apply(add, (), {"x": 1, "y": 2}) == 3
        result = pool.apply_async(square, (3,), callback=calls.append)
        assert result.get(timeout=TIMEOUT) == 9 and result.ready() and result.successful()
        assert calls == [9]
        assert pool.map(square, range(10)) == [x * x for x in range(10)]
        assert pool.map(square, range(100), chunksize=7) == [x * x for x in range(100)]
        assert pool.map(square, iter(range(5))) == [0, 1, 4, 9, 16]
        assert pool.starmap(add, [(1, 2), (3, 4)]) == [3, 7]
        assert pool.starmap_async(add, [(1, 1)] * 30, 4).get(TIMEOUT) == [2] * 30
        mapped = pool.map_async(square, [1, 2], callback=calls.append)
        assert mapped.get(TIMEOUT) == [1, 4] and calls[-1] == [1, 4]
        assert list(pool.imap(square, range(50), chunksize=3)) == [x * x for x in range(50)]
        assert sorted(pool.imap_unordered(square, range(50))) == [x * x for x in range(50)]
        iterator = pool.imap(square, [5])
        assert iterator.next(timeout=TIMEOUT) == 25
        with pytest.raises(StopIteration):
            iterator.next(timeout=TIMEOUT)
        for empty in (pool.map(square, []), list(pool.imap(square, [])),
                      list(pool.imap_unordered(square, [])), pool.map_async(square, []).get(1)):
            assert empty == []
        assert len(pool._pool) == 2 and all(w.is_alive() for w in pool._pool)


def test_results_and_errors(ctx):
    errors_seen = []
    with ctx.Pool(2) as pool:
        slow = pool.apply_async(sleep_then, (0.5, "late"))
        assert not slow.ready()
        with pytest.raises(ValueError, match="not ready"):
            slow.successful()
        with pytest.raises(mproc.TimeoutError):
            slow.get(timeout=0.01)
        slow.wait(TIMEOUT)
        assert slow.get(timeout=0) == "late"
        failed = pool.apply_async(raise_value_error, (1,), error_callback=errors_seen.append)
        with pytest.raises(ValueError, match="bad 1") as info:
            failed.get(TIMEOUT)
        assert not failed.successful() and isinstance(errors_seen[0], ValueError)
        cause = info.value.__cause__
        assert type(cause) is mproc.pool.RemoteTraceback
        assert "the line the remote traceback must show" in cause.tb
        with pytest.raises(ValueError, match="bad"):
            pool.map(raise_value_error, range(4))
        iterator = pool.imap(raise_value_error, [1, 2])
        with pytest.raises(ValueError):
            next(iterator)
        with pytest.raises(ValueError):
            next(iterator)
        assert pool.map(square, [2]) == [4]  # the pool is fine


def test_functions_that_plain_pickle_refuses(ctx):
    offset = 10
    with ctx.Pool(2) as pool:
        assert pool.map(lambda x: x + 1, range(3)) == [1, 2, 3]
        assert pool.map(lambda x: x + offset, range(3)) == [10, 11, 12]  # closure
        assert pool.map(Scaler(3).scale, range(3)) == [0, 3, 6]  # bound method
        assert pool.apply(functools.partial(add, 100), (1,)) == 101
        assert pool.apply(len, ("abc",)) == 3


def test_main_module_functions_under_every_method(start_method, tmp_path):
    script = tmp_path / "main_functions.py"
    script.write_text(textwrap.dedent("""
        import sys
        import mproc

        def top_level(x):
            return x + 1

        if __name__ == "__main__":
            def guarded(x):
                return x + 2
            with mproc.get_context(sys.argv[1]).Pool(2) as pool:
                print(pool.map(top_level, [1]), pool.map(guarded, [1]),
                      pool.map(lambda x: x + 3, [1]), flush=True)
    """))
    out = subprocess.run([sys.executable, str(script), start_method], capture_output=True,
                         text=True, timeout=TIMEOUT, env=_env())
    assert out.stdout.split() == ["[2]", "[3]", "[4]"], out.stderr


def test_lifetime_and_state(ctx):
    pool = ctx.Pool(2)
    with pytest.raises(ValueError, match="still running"):
        pool.join()
    with pytest.raises(NotImplementedError):
        import pickle

        pickle.dumps(pool)
    assert "state=RUN" in repr(pool) and "pool_size=2" in repr(pool)
    pids = [w.pid for w in pool._pool]
    pool.close()
    with pytest.raises(ValueError, match="Pool not running"):
        pool.apply_async(square, (1,))
    with pytest.raises(ValueError, match="Pool not running"):
        pool.map(square, [1])
    pool.join()
    assert _wait_gone(pids, 5) == []
    with ctx.Pool(1) as pool:
        pids = [w.pid for w in pool._pool]
    with pytest.raises(ValueError, match="Pool not running"):
        with pool:
            pass
    pool.join()
    assert _wait_gone(pids, 5) == []


def test_close_then_join_finishes_the_work(ctx):
    pool = ctx.Pool(2)
    results = [pool.apply_async(sleep_then, (0.05, i)) for i in range(6)]
    lazy = pool.imap(square, range(300), 1, 8)  # a bounded window, not yet consumed
    pool.close()
    pool.join()
    assert [r.get(0) for r in results] == list(range(6))
    assert list(lazy) == [x * x for x in range(300)]


def test_terminate_fails_what_is_unfinished(ctx):
    pool = ctx.Pool(2)
    pending = pool.map_async(sleep_then, [60] * 10, chunksize=1)
    iterator = pool.imap(sleep_then, itertools.repeat(60))
    started = time.monotonic()
    pool.terminate()
    pool.join()
    assert time.monotonic() - started < 5
    with pytest.raises(errors.PoolTerminatedError):
        pending.get(TIMEOUT)
    with pytest.raises(errors.PoolTerminatedError):
        iterator.next(TIMEOUT)


def test_argument_validation():
    with pytest.raises(ValueError):
        mproc.pool.Pool(0)
    with pytest.raises(ValueError):
        mproc.pool.Pool(-1)
    for bad in (0, -1, 0.5, "12", True):
        with pytest.raises(ValueError):
            mproc.pool.Pool(1, maxtasksperchild=bad)
    with pytest.raises(TypeError):
        mproc.pool.Pool(1, initializer=1)
    with ThreadPool(1) as pool:
        with pytest.raises(ValueError):
            pool.imap(square, [1], chunksize=0)
        with pytest.raises(TypeError):
            pool.imap(square, [1], buffersize=1.5)
        with pytest.raises(ValueError):
            pool.imap_unordered(square, [1], buffersize=0)
        with pytest.raises(ValueError):
            pool.apply_async(square, (1,), timeout=0)
        with pytest.raises(TypeError):
            pool.map(square, [1], progress="yes")


def test_initializer_and_maxtasksperchild(ctx):
    with ctx.Pool(2, initializer=set_initialized, initargs=("ready",)) as pool:
        assert pool.map(read_initialized, range(4)) == ["ready"] * 4
    with ctx.Pool(1, maxtasksperchild=2) as pool:
        pids = [pool.apply(pid_of) for _ in range(6)]
    assert len(set(pids)) == 3 and pids[0] == pids[1] != pids[2] == pids[3]


def test_repopulate_and_idle_worker_killed(ctx):
    with ctx.Pool(2) as pool:
        victim = pool._pool[0].pid
        os.kill(victim, signal.SIGKILL)
        assert _wait_gone([victim], 5) == []
        assert pool.map(square, range(20), chunksize=1) == [x * x for x in range(20)]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (len(pool._pool) < 2 or victim in
                                                [w.pid for w in pool._pool]):
            time.sleep(0.02)
        pool._repopulate_pool()
        assert len(pool._pool) == 2 and victim not in [w.pid for w in pool._pool]


def test_callbacks_may_submit_more_work(ctx):
    done = threading.Event()
    with ctx.Pool(2) as pool:
        def chain(value):
            if value < 64:
                pool.apply_async(square, (value + 1,), callback=chain)
            else:
                done.set()

        pool.apply_async(square, (2,), callback=chain)
        assert done.wait(TIMEOUT)


# -- lazy imap ------------------------------------------------------------------------


def test_imap_is_lazy_within_a_window(ctx):
    pulled = []

    def endless():
        for i in itertools.count():
            pulled.append(i)
            yield i

    with ctx.Pool(2) as pool:
        iterator = pool.imap(square, endless(), buffersize=4)
        assert [iterator.next(TIMEOUT) for _ in range(10)] == [x * x for x in range(10)]
        time.sleep(0.2)
        assert len(pulled) <= 10 + 4 + 1
        unordered = pool.imap_unordered(square, endless(), chunksize=2)
        assert len([unordered.next(TIMEOUT) for _ in range(100)]) == 100


def test_abandoned_imap_stops_its_feeder(ctx):
    def feeders():
        return [t for t in threading.enumerate() if t.name == "mproc-pool-feeder"]

    with ctx.Pool(2) as pool:
        iterator = pool.imap(square, itertools.count(), buffersize=4)
        assert next(iterator) == 0
        del iterator
        import gc

        gc.collect()
        deadline = time.monotonic() + TIMEOUT
        while feeders() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not feeders()


def test_results_keep_their_pool_alive(ctx):
    iterator = ctx.Pool(2).imap(square, range(5))  # nothing else holds the pool
    assert list(iterator) == [0, 1, 4, 9, 16]
    pids = [w.pid for w in iterator._pool._pool]
    with pytest.warns(ResourceWarning, match="unclosed running multiprocessing pool"):
        del iterator
        import gc

        gc.collect()
    assert _wait_gone(pids, 5) == []


def test_imap_input_errors_come_in_order(ctx):
    def failing(total, when):
        for i in range(total):
            if i == when:
                raise KeyError("input broke")
            yield i

    with ctx.Pool(2) as pool:
        iterator = pool.imap(square, failing(20, 7), chunksize=2)
        assert [next(iterator) for _ in range(6)] == [x * x for x in range(6)]
        with pytest.raises(KeyError):
            next(iterator)
        with pytest.raises(StopIteration):
            next(iterator)
        with pytest.raises(KeyError) as info:
            pool.map(square, failing(5, 2))
        assert info.value.__cause__ is None  # the parent's own error, not a remote one


# -- timeouts ----------------------------------------------------------------------


def test_timeout_kills_the_task_and_its_children(ctx, tmp_path):
    pid_file = tmp_path / "child.pid"
    with ctx.Pool(2) as pool:
        worker_pids = {w.pid for w in pool._pool}
        result = pool.apply_async(start_child_and_hang, (str(pid_file),), timeout=0.5)
        other = pool.apply_async(sleep_then, (0.1, "other"))
        started = time.monotonic()
        with pytest.raises(errors.TaskTimeoutError) as info:
            result.get(TIMEOUT)
        assert 0.4 < time.monotonic() - started < 10
        assert isinstance(info.value, mproc.TimeoutError)
        assert "timeout of 0.5 s" in str(info.value) and "start_child_and_hang" in str(info.value)
        assert info.value.pid in worker_pids
        assert _wait_gone([int(pid_file.read_text())], 5) == []
        assert _wait_gone([info.value.pid], 5) == []
        assert other.get(TIMEOUT) == "other"
        assert pool.map(square, range(10)) == [x * x for x in range(10)]


def test_timeout_per_item_in_map_and_imap(ctx):
    with ctx.Pool(2) as pool:
        with pytest.raises(errors.TaskTimeoutError, match="at item 3"):
            pool.map(slow_item, range(6), chunksize=2, timeout=0.5)
        results, failures = [], []
        iterator = pool.imap_unordered(slow_item, range(6), timeout=0.5)
        for _ in range(6):
            try:
                results.append(iterator.next(TIMEOUT))
            except errors.TaskTimeoutError as exc:
                failures.append(exc)
        assert sorted(results) == [0, 1, 2, 4, 5] and len(failures) == 1
        assert pool.map(square, range(5), timeout=5) == [0, 1, 4, 9, 16]


def test_thread_pool_timeout_abandons_the_thread():
    with ThreadPool(2) as pool:
        with pytest.raises(errors.TaskTimeoutError, match="abandoned"):
            pool.apply(sleep_then, (1.0,), timeout=0.2)
        assert pool.map(square, range(5)) == [0, 1, 4, 9, 16]
        assert len(pool._pool) == 2


# -- progress ----------------------------------------------------------------------------


def test_progress_callable(ctx):
    seen = []
    with ctx.Pool(2) as pool:
        assert pool.map(square, range(40), progress=lambda d, t: seen.append((d, t))) == [
            x * x for x in range(40)]
        assert seen[-1] == (40, 40) and all(t == 40 for _, t in seen)
        seen.clear()
        assert len(list(pool.imap(square, iter(range(30)), progress=lambda d, t: seen.append(
            (d, t))))) == 30
        assert seen[-1] == (30, 30) and {t for _, t in seen} <= {None, 30}


def test_progress_bar_needs_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with ThreadPool(1) as pool:
        with pytest.raises(ImportError, match=r"pip install pymproc\[progress\]"):
            pool.map(square, [1], progress=True)


def test_progress_bar_with_tqdm(monkeypatch):
    bars = []

    class FakeBar:
        def __init__(self, total, desc, unit):
            self.total, self.n, self.closed = total, 0, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def refresh(self):
            pass

        def close(self):
            self.closed = True

    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = FakeBar
    package = types.ModuleType("tqdm")
    package.auto = auto
    monkeypatch.setitem(sys.modules, "tqdm", package)
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    with ThreadPool(2) as pool:
        pool.map(square, range(25), progress=True)
        assert (bars[0].total, bars[0].n, bars[0].closed) == (25, 25, True)


# -- threads and mproc.dummy ---------------------------------------------------------


def test_thread_pool_and_dummy():
    lock = threading.Lock()  # threads share objects: nothing is pickled
    with ThreadPool(3) as pool:
        assert pool.map(lambda x: (x, lock.locked()), range(3)) == [(0, False), (1, False),
                                                                     (2, False)]
        with pytest.raises(ValueError) as info:
            pool.apply(raise_value_error, (1,))
        assert not isinstance(info.value.__cause__, mproc.pool.RemoteTraceback)
        assert len(pool._pool) == 3
    pool = mproc.dummy.Pool(2, set_initialized, ("threads",))
    assert pool.map(read_initialized, range(3)) == ["threads"] * 3
    pool.close()
    pool.join()
    assert not pool._pool


# -- never hangs, never leaks --------------------------------------------------------------


def test_crashing_initializer_breaks_the_pool_clearly(ctx):
    started = time.monotonic()
    pool = ctx.Pool(2, initializer=failing_initializer)
    try:
        with pytest.raises(errors.StartupError, match="initializer is broken") as info:
            pool.map(square, range(4))
        assert isinstance(info.value.__cause__, RuntimeError)
        with pytest.raises(errors.StartupError):
            pool.apply_async(square, (1,))
        assert time.monotonic() - started < 20
    finally:
        pool.terminate()
        pool.join()


_UNGUARDED = """
import sys
import mproc

def work(x):
    return x

mproc.set_start_method(sys.argv[1], force=True)
pool = mproc.Pool(2)
print(pool.map(work, range(3)))
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_unguarded_main_is_a_startup_error(method, tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(_UNGUARDED)
    out = subprocess.run([sys.executable, str(script), method], capture_output=True,
                         text=True, timeout=TIMEOUT, env=_env())
    assert out.returncode != 0
    assert "StartupError" in out.stderr and "__main__" in out.stderr


_INTERRUPTED = """
import sys, time
import mproc

def slow(x):
    time.sleep(60)

if __name__ == "__main__":
    pool = mproc.get_context(sys.argv[1]).Pool(2)
    print(" ".join(str(w.pid) for w in pool._pool), flush=True)
    pool.{call}
"""


@pytest.mark.parametrize("call,target", [("map(slow, range(4))", "group"),
                                         ("apply_async(slow, (1,)).get()", "parent"),
                                         ("imap(slow, range(4)).next()", "group")])
def test_ctrl_c_stops_the_pool(start_method, tmp_path, call, target):
    """SIGINT to the parent, or to its whole process group (a terminal's Ctrl-C)."""
    script = tmp_path / "interrupted.py"
    script.write_text(_INTERRUPTED.format(call=call))
    proc = subprocess.Popen([sys.executable, str(script), start_method], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        time.sleep(0.3)  # let the call start waiting
        sent = time.monotonic()
        if target == "group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=TIMEOUT)
        assert time.monotonic() - sent < 2, "KeyboardInterrupt took too long"
        assert "KeyboardInterrupt" in err
        assert _wait_gone(pids, 2 - min(2, time.monotonic() - sent) + 0.1) == []
    finally:
        proc.kill()
        proc.communicate()


def test_workers_die_with_a_killed_parent(start_method, tmp_path):
    script = tmp_path / "orphans.py"
    script.write_text(_INTERRUPTED.format(call="map(slow, range(4))"))
    proc = subprocess.Popen([sys.executable, str(script), start_method], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=_env())
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        time.sleep(0.2)
        proc.kill()
        proc.wait(TIMEOUT)
        assert _wait_gone(pids, 5) == [], "a pool worker outlived its SIGKILLed parent"
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
        proc.stdout.close()


def test_garbage_collected_pool_stops_its_workers(ctx):
    pool = ctx.Pool(2)
    pids = [w.pid for w in pool._pool]
    assert pool.map(square, [1, 2]) == [1, 4]
    with pytest.warns(ResourceWarning, match="unclosed running multiprocessing pool"):
        del pool
        import gc

        gc.collect()
    assert _wait_gone(pids, 5) == []


# -- size and large data -----------------------------------------------------------------


def test_default_size_is_the_usable_cpus(monkeypatch):
    files = {
        "/proc/self/cgroup": "0::/job\n",
        "/sys/fs/cgroup/job/cpu.max": "150000 100000\n",
        "/sys/fs/cgroup/cpu.max": "max 100000\n",
    }
    monkeypatch.setattr(cpus, "_read", files.get)
    assert cpus.cgroup_cpu_limit() == 1.5
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert cpus.usable_cpu_count() == 2
    files["/proc/self/cgroup"] = "3:cpu,cpuacct:/box\n"
    files["/sys/fs/cgroup/cpu,cpuacct/box/cpu.cfs_quota_us"] = "300000"
    files["/sys/fs/cgroup/cpu,cpuacct/box/cpu.cfs_period_us"] = "100000"
    assert cpus.usable_cpu_count() == 3
    monkeypatch.setattr(cpus, "_read", lambda path: None)
    assert cpus.usable_cpu_count() == 4
    monkeypatch.undo()
    with ThreadPool() as pool:
        assert len(pool._pool) == cpus.usable_cpu_count()


def test_large_array_travels_through_shared_memory(ctx):
    np = pytest.importorskip("numpy")
    array = np.arange(3 * 1024 * 1024 // 8, dtype=np.float64)
    before = {n for n in os.listdir("/dev/shm") if n.startswith("mproc-pool-")}
    with ctx.Pool(1) as pool:
        back = pool.apply(np.negative, (array,))
        assert back.shape == array.shape and (back == -array).all() and back.flags.writeable
        assert pool.map(np.sum, [array, array]) == [array.sum()] * 2
    after = {n for n in os.listdir("/dev/shm") if n.startswith("mproc-pool-")}
    assert after <= before


def exit_with_array(array):
    os._exit(3)


def test_failed_tasks_leave_no_shared_memory(ctx):
    np = pytest.importorskip("numpy")
    array = np.ones(2 * 1024 * 1024 // 8)

    def segments():
        return {n for n in os.listdir("/dev/shm") if n.startswith("mproc-pool-")}

    before = segments()
    with ctx.Pool(1) as pool:
        lost = pool.apply_async(exit_with_array, (array,))
        queued = [pool.apply_async(np.sum, (array,)) for _ in range(3)]
        with pytest.raises(errors.WorkerLostError):
            lost.get(TIMEOUT)
        assert [r.get(TIMEOUT) for r in queued] == [array.sum()] * 3
        pool.apply_async(sleep_then, (60,))
        never = [pool.apply_async(np.sum, (array,)) for _ in range(3)]
    for result in never:
        with pytest.raises(errors.PoolTerminatedError):
            result.get(TIMEOUT)
    assert segments() <= before
