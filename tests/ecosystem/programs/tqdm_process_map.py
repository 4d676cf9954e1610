"""tqdm's process_map on mproc; prints one JSON report.

    python tqdm_process_map.py METHOD context         # mp_context=mproc.get_context(METHOD)
    python -m mproc run tqdm_process_map.py METHOD run

tqdm hands its workers a write lock made by ``multiprocessing.RLock()`` in the
default context, so the default start method is set to METHOD first, as it must be
on the stdlib too (a fork-context lock cannot reach a spawn child, on either).
"""

import json
import multiprocessing
import os
import signal
import sys
from concurrent.futures.process import BrokenProcessPool

from tqdm.contrib.concurrent import process_map


def square(x):
    return x * x


def pid_of(_):
    return os.getpid()


def kill_self(x):
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def main():
    method, mode = sys.argv[1], sys.argv[2]
    multiprocessing.set_start_method(method)
    if mode == "context":
        import mproc

        ctx = mproc.get_context(method)
    else:
        ctx = multiprocessing.get_context(method)
    with open(os.devnull, "w") as devnull:
        squares = process_map(square, range(200), max_workers=2, chunksize=20,
                              mp_context=ctx, file=devnull)
        pids = process_map(pid_of, range(20), max_workers=2, mp_context=ctx, file=devnull)
        try:
            process_map(kill_self, range(8), max_workers=2, mp_context=ctx, file=devnull)
            killed = "no error"
        except BrokenProcessPool as exc:
            killed = type(exc).__name__
    print(json.dumps({"multiprocessing": multiprocessing.__name__, "sum": sum(squares),
                      "in_children": os.getpid() not in pids, "killed": killed}), flush=True)


if __name__ == "__main__":
    main()
