"""Pool(backend="dask"): the Pool API on a Dask cluster, against two kinds of cluster.

``local``: a ``LocalCluster(processes=True)`` this module starts; ``subprocess``:
``dask scheduler`` and ``dask worker --nworkers 2`` as separate processes (port 0, a
scheduler file), which is what a remote machine runs. Both listen on loopback only,
and both are stopped by pid at the end with nothing left behind. The start method
does not apply to the workers (Dask starts them); the timed tasks' sandbox on each
worker uses forkserver.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import distributed
import pytest

import mproc
import mproc.managers
from mproc.errors import ClusterConnectionError, TaskTimeoutError, WorkerLostError

from .conftest import _describe, _helper_fds

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(180)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {pid for pid in pids if _alive(pid)}
        if not left:
            return left
        time.sleep(0.1)
    return {pid for pid in pids if _alive(pid)}


def _worker_pids(client: distributed.Client) -> set[int]:
    return set(client.run(os.getpid).values())


class Cluster:
    """A running cluster: its client, its scheduler address, and every pid it has."""

    def __init__(self, kind: str, client: distributed.Client, pids: set[int]) -> None:
        self.kind = kind
        self.client = client
        self.address = client.scheduler.address
        self.pids = pids

    def wait_for_workers(self, n: int = 2) -> None:
        self.client.wait_for_workers(n, timeout=60)


def _start_local() -> tuple[Cluster, object]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    client = distributed.Client(cluster, set_as_default=False)
    client.wait_for_workers(2, timeout=60)
    return Cluster("local", client, _worker_pids(client)), cluster


def _start_subprocesses(tmp: Path) -> tuple[Cluster, list[subprocess.Popen[bytes]]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    env.pop("MPROC_CLUSTER", None)
    scheduler_file = tmp / "scheduler.json"
    common = ["--host", "127.0.0.1", "--no-dashboard"]
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
         "--scheduler-file", str(scheduler_file), *common],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs = [scheduler]
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", "--nworkers", "2",
         "--nthreads", "1", "--scheduler-file", str(scheduler_file), *common],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs.append(workers)
    client = distributed.Client(scheduler_file=str(scheduler_file), set_as_default=False,
                                timeout=60)
    client.wait_for_workers(2, timeout=60)
    pids = _worker_pids(client) | {p.pid for p in procs}
    return Cluster("subprocess", client, pids), procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module", params=["local", "subprocess"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    seen: set[int] = set()
    if request.param == "local":
        running, local = _start_local()
        try:
            yield running
        finally:
            seen = running.pids | _worker_pids(running.client)
            running.client.close()
            local.close()  # type: ignore[attr-defined]
    else:
        running, procs = _start_subprocesses(tmp_path_factory.mktemp("dask"))
        try:
            yield running
        finally:
            seen = running.pids | _worker_pids(running.client)
            running.client.close()
            _stop(procs)
    left = _wait_gone(seen, 20)
    assert not left, f"the {request.param} cluster left processes behind: {left}"


@pytest.fixture
def pool(cluster: Cluster) -> Iterator[mproc.pool.Pool]:
    cluster.wait_for_workers()
    with mproc.Pool(backend="dask", cluster=cluster.client) as made:
        yield made
    made.join()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """conftest's check, but for sockets and pipes: the module's Dask client keeps a
    pool of connections to the workers, and a LocalCluster's nannies live in this
    process and hold pipes to the worker processes they restart (all closed with the
    cluster, whose processes the module fixture checks are gone)."""
    before_children = set(mproc.active_children())
    before = {fd for fd in _fds() if not _is_socket(fd)}
    yield
    gc.collect()
    deadline = time.monotonic() + 10
    while True:
        children = set(mproc.active_children()) - before_children
        leaked = {fd for fd in _fds() if not _is_socket(fd)} - before - _helper_fds()
        if (not children and not leaked) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not children, f"test left child processes running: {children}"
    assert not leaked, f"test left fds open: {[_describe(fd) for fd in sorted(leaked)]}"


def _fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def _is_socket(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith(("socket:", "pipe:"))
    except OSError:
        return True  # gone already


# -- functions the workers import (tests/ is on their path) --------------------------

def square(x: int) -> int:
    return x * x


def add(a: int, b: int) -> int:
    return a + b


def where(_: object = None) -> str:
    return str(distributed.get_worker().address)


def sleep_then_touch(path: str, seconds: float) -> str:
    time.sleep(seconds)
    Path(path).write_text("ran")
    return path


def slow_pid(x: int, delay: float) -> tuple[int, str]:
    time.sleep(delay)
    return x, where()


def die_or_answer(x: int, victim: int, delay: float) -> tuple[int, str]:
    time.sleep(delay)
    if x == victim:
        os.kill(os.getpid(), signal.SIGKILL)
    return x, where()


_initialized: list[str] = []


def remember(tag: str) -> None:
    _initialized.append(tag)


def initialized(_: object = None) -> tuple[list[str], int]:
    return list(_initialized), os.getpid()


def put(queue: object, x: int) -> int:
    queue.put(x)  # type: ignore[attr-defined]
    return x


def in_main_thread(_: object = None) -> bool:
    return threading.current_thread() is threading.main_thread()


def length(data: bytes, i: int) -> int:
    return len(data) + i


# -- the API -------------------------------------------------------------------------

def test_map_starmap_apply_and_callbacks(pool: mproc.pool.Pool) -> None:
    assert pool.map(square, range(1000)) == [x * x for x in range(1000)]
    assert pool.starmap(add, [(1, 2), (3, 4)]) == [3, 7]
    assert pool.apply(add, (2, 3)) == 5
    got: list[object] = []
    done = threading.Event()
    pool.apply_async(square, (7,), callback=lambda v: (got.append(v), done.set()))
    assert done.wait(30) and got == [49]
    errors: list[BaseException] = []
    failed = threading.Event()
    pool.apply_async(square, ("x",), error_callback=lambda e: (errors.append(e), failed.set()))
    assert failed.wait(30) and isinstance(errors[0], TypeError)
    assert pool.map_async(square, [1, 2]).get(30) == [1, 4]
    assert pool.starmap_async(add, [(5, 5)]).get(30) == [10]


def test_processes_defaults_to_the_cluster_threads(pool: mproc.pool.Pool,
                                                   cluster: Cluster) -> None:
    assert pool._processes == sum(cluster.client.nthreads().values()) == 2
    assert sorted(pool._pool) == sorted(cluster.client.scheduler_info()["workers"])


def test_imap_is_lazy_and_bounded(pool: mproc.pool.Pool) -> None:
    pulled = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            pulled.append(i)
            yield i
            i += 1

    it = pool.imap(square, endless(), buffersize=8)
    assert [next(it) for _ in range(20)] == [x * x for x in range(20)]
    time.sleep(0.3)
    assert len(pulled) <= 20 + 8 + 1
    assert sorted(pool.imap_unordered(square, range(50), chunksize=3)) == sorted(
        x * x for x in range(50))


def test_lambdas_and_closures_cross(pool: mproc.pool.Pool) -> None:
    offset = 10
    assert pool.map(lambda x: x + offset, range(5)) == [10, 11, 12, 13, 14]

    def local(x: int) -> int:
        return x * offset

    assert pool.apply(local, (3,)) == 30


def test_the_task_runs_on_a_worker_and_errors_carry_its_traceback(pool: mproc.pool.Pool,
                                                                  cluster: Cluster) -> None:
    assert pool.apply(where) in cluster.client.scheduler_info()["workers"]
    with pytest.raises(ZeroDivisionError) as raised:
        pool.apply(lambda: 1 / 0)
    assert "raised on Dask worker tcp://127.0.0.1:" in str(raised.value.__cause__)


def test_a_timeout_fails_the_task_and_stops_the_work(pool: mproc.pool.Pool,
                                                     tmp_path: Path) -> None:
    flag = tmp_path / "ran"
    started = time.monotonic()
    with pytest.raises(TaskTimeoutError, match="timeout of 0.5 s"):
        pool.apply(sleep_then_touch, (str(flag), 2.0), timeout=0.5)
    assert time.monotonic() - started < 10
    assert pool.map(square, range(4), timeout=30) == [0, 1, 4, 9]  # the pool goes on
    time.sleep(2.5)
    assert not flag.exists(), "the timed-out call went on running"


def test_a_killed_worker_fails_only_its_tasks(pool: mproc.pool.Pool, cluster: Cluster) -> None:
    before = set(cluster.client.scheduler_info()["workers"])
    results = [pool.apply_async(die_or_answer, (i, 5, 0.3)) for i in range(12)]
    lost, answered = [], []
    for result in results:
        try:
            answered.append(result.get(60))
        except WorkerLostError as exc:
            lost.append(exc)
    assert lost, "the task that killed its worker did not fail"
    assert len({exc.worker for exc in lost}) == 1  # type: ignore[attr-defined]
    dead = lost[0].worker  # type: ignore[attr-defined]
    assert dead in before and "was lost: the Dask worker" in str(lost[0])
    assert len(answered) + len(lost) == 12 and len(lost) <= 3  # a batch at most
    assert all(x != 5 for x, _ in answered)
    # the nanny replaces the worker, and the replacement takes work
    cluster.wait_for_workers(2)
    deadline = time.monotonic() + 60
    while dead in cluster.client.scheduler_info()["workers"] and time.monotonic() < deadline:
        time.sleep(0.1)
    fresh = set(cluster.client.scheduler_info()["workers"]) - before
    assert fresh, "no replacement worker joined"
    cluster.pids |= _worker_pids(cluster.client)
    seen = {address for _x, address in pool.starmap(slow_pid, [(i, 0.2) for i in range(8)],
                                                    chunksize=1)}
    assert seen & fresh


def die_first_times(counter: str, deaths: int) -> str:
    with open(counter, "a") as file:
        file.write("x")
    if len(Path(counter).read_text()) <= deaths:
        os.kill(os.getpid(), signal.SIGKILL)
    return where()


def test_retries_run_a_lost_task_again(pool: mproc.pool.Pool, cluster: Cluster,
                                       tmp_path: Path) -> None:
    once, always = str(tmp_path / "once"), str(tmp_path / "always")
    assert pool.apply(die_first_times, (once, 1), retries=1)
    assert len(Path(once).read_text()) == 2  # it ran again after the death
    with pytest.raises(WorkerLostError, match=r"It ran 2 times \(retries=1\)"):
        pool.apply(die_first_times, (always, 99), retries=1)
    assert len(Path(always).read_text()) == 2
    cluster.wait_for_workers(2)
    cluster.pids |= _worker_pids(cluster.client)


def test_memory_limit_is_refused_with_dask_s_own_named(cluster: Cluster) -> None:
    with pytest.raises(ValueError, match="memory_limit= is not supported by the 'dask'.*"
                                         "--memory-limit"):
        mproc.Pool(backend="dask", cluster=cluster.client, memory_limit=1 << 30)


def test_initializer_runs_in_every_worker(cluster: Cluster) -> None:
    cluster.wait_for_workers()
    with mproc.Pool(backend="dask", cluster=cluster.client, initializer=remember,
                    initargs=("pool-a",)) as pool:
        states = pool.starmap(slow_pid, [(i, 0.1) for i in range(6)], chunksize=1)
        assert len(states) == 6
        per_worker = cluster.client.run(initialized)
        assert all("pool-a" in tags for tags, _pid in per_worker.values())
        pool.close()
        pool.join()


def test_maxtasksperchild_is_refused_clearly(cluster: Cluster) -> None:
    with pytest.raises(ValueError, match="maxtasksperchild is not supported by the dask"):
        mproc.Pool(backend="dask", cluster=cluster.client, maxtasksperchild=3)


def test_a_local_only_object_is_a_clear_error_and_others_go_on(pool: mproc.pool.Pool) -> None:
    lock = mproc.Lock()
    good = pool.apply_async(square, (3,))
    bad = pool.apply_async(lambda held: held, (lock,))
    with pytest.raises(RuntimeError, match="shared between processes through inheritance"
                       ) as raised:  # the pickling error itself, as a local pool's
        bad.get(30)
    if sys.version_info >= (3, 11):
        assert "cannot be sent to the Dask cluster" in raised.value.__notes__[0]
        assert "manager proxy" in raised.value.__notes__[0]
    assert good.get(30) == 9


def test_a_manager_proxy_over_tcp_works_on_the_cluster(pool: mproc.pool.Pool) -> None:
    manager = mproc.managers.SyncManager(address=("127.0.0.1", 0), authkey=b"tasks")
    manager.start()
    try:
        queue = manager.Queue()
        assert sorted(pool.starmap(put, [(queue, i) for i in range(5)], chunksize=1)) == [
            0, 1, 2, 3, 4]
        assert sorted(queue.get(timeout=10) for _ in range(5)) == [0, 1, 2, 3, 4]
        del queue
    finally:
        manager.shutdown()


def test_tasks_run_in_a_worker_thread_not_the_main_thread(pool: mproc.pool.Pool) -> None:
    # a documented difference: Dask runs tasks in its worker threads
    assert pool.apply(in_main_thread) is False


def test_large_arguments_are_scattered_once(pool: mproc.pool.Pool) -> None:
    data = os.urandom(4 << 20)
    assert pool.starmap(length, [(data, i) for i in range(10)], chunksize=1) == [
        len(data) + i for i in range(10)]
    assert pool.map(lambda i: len(data) + i, range(3)) == [len(data) + i for i in range(3)]
    scattered = pool._backend._scatterer._by_id  # type: ignore[union-attr]
    assert list(scattered) == [id(data)]


def test_terminate_returns_at_once_and_stops_the_work(cluster: Cluster, tmp_path: Path) -> None:
    cluster.wait_for_workers()
    pool = mproc.Pool(backend="dask", cluster=cluster.client)
    flags = [str(tmp_path / f"f{i}") for i in range(40)]
    result = pool.starmap_async(sleep_then_touch, [(f, 0.2) for f in flags], chunksize=10)
    time.sleep(0.5)
    started = time.monotonic()
    pool.terminate()
    assert time.monotonic() - started < 1.0
    with pytest.raises(mproc.errors.PoolTerminatedError):
        result.get(5)
    pool.join()
    time.sleep(1.0)
    ran = sum(Path(f).exists() for f in flags)
    assert ran < 20, f"{ran} of 40 calls ran although the pool was terminated"


def spin_then_touch(path: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    Path(path).write_text("ran")


def _executing(dask_worker: distributed.Worker) -> int:
    return len(dask_worker.state.executing)


def test_terminate_stops_calls_that_already_run(cluster: Cluster, tmp_path: Path) -> None:
    cluster.wait_for_workers()
    flag = tmp_path / "spun"
    pool = mproc.Pool(backend="dask", cluster=cluster.client)
    spinning = pool.apply_async(spin_then_touch, (str(flag), 4.0))
    sleeping = pool.apply_async(time.sleep, (120,))
    deadline = time.monotonic() + 30
    while sum(cluster.client.run(_executing).values()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    pool.terminate()
    assert time.monotonic() - started < 1.0
    for result in (spinning, sleeping):
        with pytest.raises(mproc.errors.PoolTerminatedError):
            result.get(5)
    pool.join()
    # the Python loop was interrupted; the worker stuck in sleep(120) was restarted
    cluster.wait_for_workers(2)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if not any(cluster.client.run(_executing).values()):
                break
        except Exception:
            pass
        time.sleep(0.1)
    assert not any(cluster.client.run(_executing).values()), "a call of the pool still runs"
    time.sleep(4.5)
    assert not flag.exists(), "the interrupted call went on running"
    cluster.pids |= _worker_pids(cluster.client)


def test_the_users_client_stays_open(cluster: Cluster) -> None:
    cluster.wait_for_workers()
    with mproc.Pool(backend="dask", cluster=cluster.client) as pool:
        assert pool.apply(square, (4,)) == 16
    pool.join()
    assert cluster.client.status == "running"
    assert cluster.client.submit(square, 5).result(30) == 25


def test_an_address_works_like_a_client(cluster: Cluster) -> None:
    cluster.wait_for_workers()
    pool = mproc.Pool(backend="dask", cluster=cluster.address)
    try:
        assert pool.map(square, range(5)) == [0, 1, 4, 9, 16]
        pool.close()
    finally:
        pool.terminate()
        assert pool.join() is None


def test_run_cluster_runs_an_unmodified_program_there(cluster: Cluster, tmp_path: Path) -> None:
    cluster.wait_for_workers()
    script = tmp_path / "program.py"
    script.write_text(
        "import multiprocessing, os\n"
        "def square(x):\n    return x * x\n"
        "def pid(_):\n    return os.getpid()\n"
        "if __name__ == '__main__':\n"
        "    with multiprocessing.Pool() as pool:\n"
        "        print(sum(pool.map(square, range(100))))\n"
        "        print(sorted(set(pool.map(pid, range(40), chunksize=1))))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("MPROC_CLUSTER", None)
    done = subprocess.run([sys.executable, "-m", "mproc", "run", "--cluster", cluster.address,
                           str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    total, pids = done.stdout.splitlines()
    assert int(total) == sum(x * x for x in range(100))
    assert set(eval(pids)) <= _worker_pids(cluster.client)


# -- without a cluster ----------------------------------------------------------------

def test_an_unreachable_scheduler_is_a_clear_error_in_time() -> None:
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        started = time.monotonic()
        with pytest.raises(ClusterConnectionError, match="cannot reach the Dask scheduler"):
            mproc.Pool(backend="dask", cluster="tcp://127.0.0.1:9")
    assert time.monotonic() - started < 10


def test_the_embedded_default_starts_and_stops_a_local_cluster() -> None:
    with mproc.Pool(2, backend="dask") as pool:
        pids = set(pool._backend._connection.client.run(os.getpid).values())  # type: ignore
        assert pool.map(square, range(10)) == [x * x for x in range(10)]
    pool.join()
    assert not _wait_gone(pids, 20)


def test_cluster_is_for_the_dask_backend_only() -> None:
    with pytest.raises(ValueError, match="cluster= is for backend='dask'"):
        mproc.Pool(1, cluster="tcp://127.0.0.1:8786")


# -- the Executor front end on the same backend ----------------------------------------

def test_process_pool_executor_on_the_cluster(cluster: Cluster) -> None:
    import concurrent.futures

    import mproc.futures

    cluster.wait_for_workers()
    with mproc.futures.ProcessPoolExecutor(backend="dask", cluster=cluster.client) as ex:
        futures = [ex.submit(square, i) for i in range(20)]
        assert [f.result(60) for f in futures] == [i * i for i in range(20)]
        assert list(ex.map(add, range(5), range(5), timeout=60)) == [0, 2, 4, 6, 8]
        assert isinstance(futures[0], concurrent.futures.Future)
        with pytest.raises(ZeroDivisionError):
            ex.submit(lambda: 1 / 0).result(60)
        with pytest.raises(TaskTimeoutError):
            ex.options(task_timeout=0.5).submit(time.sleep, 5).result(60)
        assert ex.submit(where).result(60) in cluster.client.scheduler_info()["workers"]
    with pytest.raises(ValueError, match="cluster= is for backend='dask'"):
        mproc.futures.ProcessPoolExecutor(1, cluster="tcp://127.0.0.1:8786")


def test_ctrl_c_during_map_stops_the_clusters_work(cluster: Cluster, tmp_path: Path) -> None:
    cluster.wait_for_workers()
    script = tmp_path / "interrupted.py"
    script.write_text(
        "import sys, time, pathlib\n"
        "import mproc\n"
        "FOLDER = sys.argv[2]\n"
        "def touch(i, folder=FOLDER):  # bound here: a worker's sys.argv is its own\n"
        "    time.sleep(0.3)\n"
        "    pathlib.Path(folder, str(i)).write_text(str(time.time()))\n"
        "    return i\n"
        "if __name__ == '__main__':\n"
        "    with mproc.Pool(backend='dask', cluster=sys.argv[1]) as pool:\n"
        "        print('mapping', flush=True)\n"
        "        try:\n"
        "            pool.map(touch, range(200), chunksize=1)\n"
        "        except KeyboardInterrupt:\n"
        "            print('interrupted', flush=True)\n"
        "            raise\n")
    out = tmp_path / "flags"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("MPROC_CLUSTER", None)
    proc = subprocess.Popen([sys.executable, str(script), cluster.address, str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "mapping"
        deadline = time.monotonic() + 60
        while len(os.listdir(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        interrupted_at = time.time()
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "interrupted" in stdout and "KeyboardInterrupt" in stderr
    time.sleep(1.5)
    late = [f for f in os.listdir(out) if float((out / f).read_text()) > interrupted_at + 0.5]
    assert not late, f"{len(late)} calls ran after the Ctrl-C"
    assert len(os.listdir(out)) < 50


def test_progress_reports_every_item(pool: mproc.pool.Pool) -> None:
    seen: list[tuple[int, int | None]] = []
    assert pool.map(square, range(100), progress=lambda done, total: seen.append(
        (done, total))) == [x * x for x in range(100)]
    assert seen and seen[-1] == (100, 100)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_without_distributed_the_error_says_how_to_install() -> None:
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import mproc\n"
            "try:\n"
            "    mproc.Pool(backend='dask')\n"
            "except ImportError as exc:\n"
            "    print(exc)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("MPROC_CLUSTER", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert "pip install 'pymproc[dask]'" in done.stdout, done.stderr


class _ScatterRecorder:
    """A stand-in client: records how each scatter was asked for."""

    def __init__(self, direct_to_workers: bool | None = None, fail_direct: bool = False) -> None:
        self.direct_to_workers = direct_to_workers
        self.fail_direct = fail_direct
        self.calls: list[bool] = []

    def scatter(self, obj: object, broadcast: bool, hash: bool, direct: bool = False) -> object:
        assert broadcast and not hash
        self.calls.append(direct)
        if direct and self.fail_direct:
            raise distributed.comm.CommClosedError("worker unreachable")
        return ("future", len(self.calls))


def test_large_objects_are_scattered_straight_to_the_workers() -> None:
    from mproc._backends.dask.batches import Scatterer

    client = _ScatterRecorder()
    scatterer = Scatterer(client)
    first, second = bytearray(10), bytearray(10)
    assert scatterer.future_for(first) == ("future", 1)
    assert scatterer.future_for(first) == ("future", 1)  # once while it lives
    scatterer.future_for(second)
    assert client.calls == [True, True]


def test_a_failed_direct_scatter_falls_back_to_the_scheduler_for_good() -> None:
    from mproc._backends.dask.batches import Scatterer

    client = _ScatterRecorder(fail_direct=True)
    scatterer = Scatterer(client)
    first, second = bytearray(10), bytearray(10)
    assert scatterer.future_for(first) == ("future", 2)
    assert scatterer.future_for(second) == ("future", 3)
    assert client.calls == [True, False, False]


def test_a_client_that_cannot_reach_workers_keeps_the_scheduler_relay() -> None:
    from mproc._backends.dask.batches import Scatterer

    client = _ScatterRecorder(direct_to_workers=False)
    Scatterer(client).future_for(bytearray(10))
    assert client.calls == [False]
