"""Dask workloads: mproc's ``Pool(backend="dask")`` against what Dask users write today.

Both sides of each row run on the same kind of cluster, started before the clock:
``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` processes on
loopback, warmed up with a first small map. With ``mp`` = mproc the row runs mproc's dask Pool; with ``mp`` =
the stdlib it runs the row's baseline instead (the harness's "stdlib" column):

* ``.vs_client_map``: ``client.gather(client.map(f, items))``, one Dask task per item;
* ``.vs_joblib``: joblib's dask backend, ``Parallel()(delayed(f)(x) for x in items)``
  under ``parallel_backend("dask")`` (its own adaptive batching);
* ``.vs_local_pool``: mproc's local process Pool(2) on the same machine (the target,
  0.77, is "within 1.3x of the local pool");
* ``.vs_hand_scatter``: ``client.scatter(array, broadcast=True)`` once, then
  ``client.map`` over the future, as a careful Dask user writes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks import _children
from benchmarks.harness import Measurement, Skip, workload


def _cluster(mp):
    """A stock Dask cluster in processes of its own: ``dask scheduler`` and ``dask worker
    --nworkers 2 --nthreads 1`` on loopback, the same for both sides of a row. On the
    mproc side, ``multiprocessing`` is aliased to mproc before distributed is imported
    (distributed imports it; the harness checks that the measuring process of mproc
    never loads the stdlib's package)."""
    if mp.__name__ == "mproc":
        from mproc import _alias

        _alias.install()
    try:
        import distributed
    except ImportError:
        raise Skip("dask distributed is not installed (pip install 'pymproc[dask]')") from None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(root, "src"), root]))
    env.pop("MPROC_CLUSTER", None)
    folder = tempfile.mkdtemp(prefix="mproc-bench-dask-")
    scheduler_file = os.path.join(folder, "scheduler.json")
    common = ["--host", "127.0.0.1", "--no-dashboard"]
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
             "start_new_session": True}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--port", "0", "--scheduler-file", scheduler_file, *common],
                              **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(scheduler_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--nworkers", "2",
             "--nthreads", "1", "--scheduler-file", scheduler_file, *common], **quiet))
        client = distributed.Client(scheduler_file=scheduler_file, set_as_default=False,
                                    timeout=60)
        client.wait_for_workers(2, timeout=60)
    except BaseException:
        _stop(procs)
        raise
    return procs, client


def _stop(procs) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _on_cluster(mp, run):
    """``run(client, pool)`` on a fresh, warm cluster; ``pool`` is mproc's dask Pool on
    the mproc side and None on the baseline's."""
    procs, client = _cluster(mp)
    try:
        client.gather(client.map(_children.square, range(4)))
        if mp.__name__ != "mproc":
            return run(client, None)
        import mproc

        with mproc.Pool(backend="dask", cluster=client) as pool:
            pool.map(_children.square, range(100))  # warm: plugins, imports on the workers
            return run(client, pool)
    finally:
        client.close()
        _stop(procs)


def _tiny(mp, n: int, baseline) -> Measurement:
    def run(client, pool):
        t0 = time.perf_counter()
        if mp.__name__ == "mproc":
            total = sum(pool.map(_children.square, range(n)))
        else:
            total = sum(baseline(client, n))
        seconds = time.perf_counter() - t0
        if total != sum(x * x for x in range(n)):
            raise RuntimeError("wrong result")
        return Measurement(units=n, seconds=seconds)

    return _on_cluster(mp, run)


def _client_map(client, n):
    return client.gather(client.map(_children.square, range(n)))


def _joblib(client, n):
    try:
        import joblib
    except ImportError:
        raise Skip("joblib is not installed") from None
    with joblib.parallel_backend("dask", client=client):
        return joblib.Parallel()(joblib.delayed(_children.square)(i) for i in range(n))


@workload("dask.pool.map_tiny.vs_client_map", target=20.0, unit="task/s",
          params={"n": 20000}, quick={"n": 500})
def dask_map_tiny_vs_client_map(mp, n: int) -> Measurement:
    """n tiny tasks: mproc dask Pool.map vs raw client.map (one Dask task per item;
    about 3.5 ms each here, so n=20,000 rather than 200,000 keeps a run under 2 min)."""
    return _tiny(mp, n, _client_map)


@workload("dask.pool.map_tiny.vs_joblib", target=1.0, unit="task/s",
          params={"n": 200000}, quick={"n": 2000})
def dask_map_tiny_vs_joblib(mp, n: int) -> Measurement:
    """200,000 tiny tasks: mproc dask Pool.map vs joblib's dask backend."""
    return _tiny(mp, n, _joblib)


def _busy(ms: float) -> float:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
    return ms


@workload("dask.pool.map_5ms.vs_local_pool", target=0.77, unit="task/s",
          params={"n": 400}, quick={"n": 40})
def dask_map_5ms_vs_local_pool(mp, n: int) -> Measurement:
    """n tasks of 5 ms of CPU: mproc dask Pool(2 workers) vs mproc's local Pool(2)."""
    import mproc

    if mp.__name__ == "mproc":
        def run(client, pool):
            t0 = time.perf_counter()
            done = pool.map(_busy, [5.0] * n)
            return Measurement(units=len(done), seconds=time.perf_counter() - t0)

        return _on_cluster(mp, run)
    with mproc.Pool(2) as pool:
        pool.map(_children.square, range(100))
        t0 = time.perf_counter()
        done = pool.map(_busy, [5.0] * n)
        return Measurement(units=len(done), seconds=time.perf_counter() - t0)


def _array_sum(array, i: int) -> float:
    return float(array[i * 1000:(i + 1) * 1000].sum())


@workload("dask.pool.array_100mib.vs_hand_scatter", target=1.0, unit="task/s",
          params={"n": 20, "mib": 100}, quick={"n": 4, "mib": 10})
def dask_array_vs_hand_scatter(mp, n: int, mib: int) -> Measurement:
    """One mib-MiB numpy array passed to n tasks: mproc dask Pool.starmap (scatters it
    by itself) vs a hand-written client.scatter(broadcast=True) + client.map."""
    try:
        import numpy as np
    except ImportError:
        raise Skip("numpy is not installed") from None

    def run(client, pool):
        # The first transfer of this size to a fresh cluster costs 3-6x the later
        # ones (the workers' memory and connections): both sides pay it before the
        # clock, with a throw-away array.
        warm = client.scatter(np.zeros(mib * (1 << 20) // 8), broadcast=True, hash=False)
        client.gather(client.map(_array_sum, [warm] * 2, range(2)))
        del warm
        array = np.ones(mib * (1 << 20) // 8)
        t0 = time.perf_counter()
        if mp.__name__ == "mproc":
            sums = pool.starmap(_array_sum, [(array, i) for i in range(n)], chunksize=1)
        else:
            future = client.scatter(array, broadcast=True, hash=False)
            sums = client.gather(client.map(_array_sum, [future] * n, range(n)))
        seconds = time.perf_counter() - t0
        if sums != [1000.0] * n:
            raise RuntimeError("wrong result")
        return Measurement(units=n, seconds=seconds)

    return _on_cluster(mp, run)
