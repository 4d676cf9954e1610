"""concurrent.futures.ProcessPoolExecutor on mproc; prints one JSON report.

    python cf_executor.py METHOD context   # mp_context=mproc.get_context(METHOD)
    python -m mproc run cf_executor.py METHOD run   # the stdlib's own names, on mproc
"""

import json
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool


def square(x):
    return x * x


def pid_of(_):
    return os.getpid()


def set_offset(value):
    global OFFSET
    OFFSET = value


OFFSET = 0


def with_offset(x):
    return x + OFFSET


def fail_init():
    raise ValueError("initializer failed on purpose")


def kill_self(_):
    os.kill(os.getpid(), signal.SIGKILL)


def sleep_then(x):
    import time

    time.sleep(0.3)
    return x


def breaks(ex, fn, arg):
    """What submitting ``fn(arg)`` to ``ex`` ends with: the error's name, or "no error"."""
    try:
        ex.submit(fn, arg).result(timeout=60)
        return "no error"
    except BrokenProcessPool as exc:
        return type(exc).__name__
    finally:
        ex.shutdown(wait=True)


def main():
    method, mode = sys.argv[1], sys.argv[2]
    if mode == "context":
        import mproc

        ctx = mproc.get_context(method)
    else:
        ctx = multiprocessing.get_context(method)
    crashed_threads = []
    threading.excepthook = lambda args: crashed_threads.append(repr(args.exc_value))
    report = {"multiprocessing": multiprocessing.__name__, "ctx": type(ctx).__module__}

    with ProcessPoolExecutor(2, mp_context=ctx) as ex:
        report["map"] = list(ex.map(square, range(10), chunksize=3))
        report["submit"] = ex.submit(square, 7).result(timeout=60)

    with ProcessPoolExecutor(2, mp_context=ctx, initializer=set_offset, initargs=(100,)) as ex:
        report["initializer"] = list(ex.map(with_offset, range(3)))

    if sys.version_info >= (3, 11) and method != "fork":
        # one task at a time: CPython 3.11.7 and 3.13.0 themselves hang on a map here
        with ProcessPoolExecutor(1, mp_context=ctx, max_tasks_per_child=2) as ex:
            pids = [ex.submit(pid_of, i).result(timeout=60) for i in range(3)]
            report["max_tasks_per_child_pids"] = len(set(pids))

    ex = ProcessPoolExecutor(1, mp_context=ctx)
    futures = [ex.submit(sleep_then, i) for i in range(6)]
    ex.shutdown(wait=True, cancel_futures=True)
    report["cancelled"] = sum(f.cancelled() for f in futures)
    report["done"] = sum(f.done() and not f.cancelled() for f in futures)

    report["killed"] = breaks(ProcessPoolExecutor(2, mp_context=ctx), kill_self, 0)
    report["failing_initializer"] = breaks(
        ProcessPoolExecutor(2, mp_context=ctx, initializer=fail_init), square, 1)

    report["crashed_threads"] = crashed_threads
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
