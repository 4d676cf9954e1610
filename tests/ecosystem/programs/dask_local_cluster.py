"""dask.distributed's LocalCluster(processes=True) under ``python -m mproc run``.

    python -m mproc run dask_local_cluster.py METHOD FLAG_FILE

Its nannies start the workers through ``multiprocessing.get_context(METHOD)``,
which is mproc here. One task SIGKILLs its worker the first time it runs: the
nanny restarts the worker and the scheduler runs the task again.
"""

import json
import multiprocessing
import os
import signal
import sys

import dask
from distributed import Client, LocalCluster


def square(x):
    return x * x


def where(_):
    import multiprocessing

    return multiprocessing.__name__, os.getppid()


def die_once(flag):
    if not os.path.exists(flag):
        open(flag, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return "ran again"


def main():
    method, flag = sys.argv[1], sys.argv[2]
    with dask.config.set({"distributed.worker.multiprocessing-method": method}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            seen = set(map(tuple, client.gather(client.map(where, range(8)))))
            report = {
                "multiprocessing": multiprocessing.__name__,
                "workers_see": sorted({name for name, _ in seen}),
                "sum": sum(client.gather(client.map(square, range(100)))),
                "killed": client.submit(die_once, flag, pure=False).result(timeout=60),
                "after": sum(client.gather(client.map(square, range(10)))),
            }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
