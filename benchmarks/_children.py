"""Process targets used by the workloads.

They live in their own tiny module (importable as ``benchmarks._children``)
so that spawn and forkserver children can unpickle them by reference without
importing the harness or any workload module.

Rules: top-level functions only, stdlib-only imports, and never import
``multiprocessing`` here -- the same targets run under mproc, and the
library under test must not drag the stdlib implementation in.
"""

import os


def pin_to_cpu(cpu):
    """Pin the calling thread to ``cpu`` (no-op if ``None`` or unsupported)."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def noop():
    """Trivial target for process start/join benchmarks."""


def echo(conn, cpu=None):
    """Send back every object received until ``None`` arrives.

    ``cpu``: pin the echoing thread to that CPU first.
    """
    pin_to_cpu(cpu)
    recv = conn.recv
    send = conn.send
    while True:
        obj = recv()
        if obj is None:
            break
        send(obj)
    conn.close()


def dict_proxy_calls(proxy, n, conn):
    """Set and get ``n`` keys through a manager dict proxy; report elapsed seconds."""
    import time

    proxy["warm"] = 0
    t0 = time.perf_counter()
    for i in range(n):
        proxy[i % 64] = i
        proxy[i % 64]
    conn.send(time.perf_counter() - t0)
    conn.close()


def put_items(q, n, item, go=None):
    """Put ``item`` n times (after ``go`` is set, if given), then a None sentinel."""
    if go is not None:
        go.wait()
    put = q.put
    for _ in range(n):
        put(item)
    put(None)


def get_until_none(q, producers, done):
    """Get until ``producers`` sentinels arrived; report the count on ``done``."""
    get = q.get
    seen = count = 0
    while seen < producers:
        if get() is None:
            seen += 1
        else:
            count += 1
    done.put(count)


def make_and_put(q, n, size, kind):
    """Put n payloads of ``size`` bytes (bytes, or a numpy array when kind == 'numpy')."""
    if kind == "numpy":
        import numpy

        payload = numpy.ones(size, dtype=numpy.uint8)
    else:
        payload = b"x" * size
    for _ in range(n):
        q.put(payload)


def hammer_lock(lock, n, go):
    """``with lock: pass``, n times, after ``go`` is set."""
    go.wait()
    for _ in range(n):
        with lock:
            pass


def square(x):
    return x * x


def identity(x):
    return x


def hammer_lock_explicit(lock, n, go):
    """``lock.acquire(); lock.release()``, n times, after ``go`` is set."""
    go.wait()
    acquire, release = lock.acquire, lock.release
    for _ in range(n):
        acquire()
        release()


def increment_value(value, n, go):
    """``with value.get_lock(): value.value += 1``, n times."""
    go.wait()
    lock = value.get_lock()
    for _ in range(n):
        with lock:
            value.value += 1


def increment_array(array, n, go):
    """``with array.get_lock(): array[0] += 1``, n times."""
    go.wait()
    lock = array.get_lock()
    for _ in range(n):
        with lock:
            array[0] += 1


def stream(conn, kind, payload, count, cpu=None):
    """Send ``payload`` ``count`` times: with ``send_bytes``, or ``send`` for kind "obj".

    The parent's timed region starts after warm-up messages, so the child's
    start-up is never timed.  ``cpu``: pin the sending thread to that CPU first.
    """
    pin_to_cpu(cpu)
    send = conn.send_bytes if kind == "bytes" else conn.send
    for _ in range(count):
        send(payload)
    conn.close()


def get_task_done(q, n):
    """Get n items from a JoinableQueue, calling task_done() after each."""
    get, task_done = q.get, q.task_done
    for _ in range(n):
        get()
        task_done()


def list_proxy_calls(proxy, n, conn):
    """Append ``n`` items to a manager list proxy and read each back; report seconds."""
    import time

    proxy.append(0)
    t0 = time.perf_counter()
    for i in range(n):
        proxy.append(i)
        proxy[i]
    conn.send(time.perf_counter() - t0)
    conn.close()


def dict_proxy_object_calls(proxy, n, conn):
    """Set ``n`` tuple values and fetch them with ``get(k, default)``; report seconds."""
    import time

    proxy["warm"] = ()
    t0 = time.perf_counter()
    for i in range(n):
        proxy[i % 64] = (i, "value", [i])
        proxy.get(i % 64, None)
    conn.send(time.perf_counter() - t0)
    conn.close()


def on_cpu(cpu, target, *args):
    """``target(*args)`` with this process pinned to CPU ``cpu``."""
    import os

    os.sched_setaffinity(0, {cpu})
    target(*args)


def churn(k):
    """A fixed amount of CPU work that allocates as it goes (a list of k ints)."""
    return sum([i * 2 for i in range(k)])
