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


def send_bytes_stream(conn, size, count, cpu=None):
    """Wait for a go signal, then send ``count`` payloads of ``size`` bytes.

    The payload is allocated before the go signal so that the parent's timed
    region only covers transfer.  After the stream, wait for the parent's
    acknowledgement so that the child's exit is not part of the measurement.
    ``cpu``: pin the sending thread to that CPU first.
    """
    pin_to_cpu(cpu)
    payload = b"x" * size
    conn.recv_bytes()  # go
    send_bytes = conn.send_bytes
    for _ in range(count):
        send_bytes(payload)
    conn.recv_bytes()  # done
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
    go.wait()
    for _ in range(n):
        with lock:
            pass


def square(x):
    return x * x


def identity(x):
    return x
