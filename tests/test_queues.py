"""Queue, JoinableQueue and SimpleQueue under every start method: the stdlib's
semantics, plus what mproc promises beyond them (no wedge on process death, no
join-before-drain deadlock, pickling errors in put(), large buffers through shared
memory, nothing left behind)."""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import signal
import threading
import time
import traceback

import pytest

import mproc
import mproc.connection
import mproc.queues
from mproc._queues import feeding, store
from mproc._queues import queue as queue_module
from mproc._queues.transport import PACKET_MAX
from mproc._shm.tracker import ensure_running

from .helpers import started

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy is a test extra
    np = None

TIMEOUT = 30
BIG = 3 << 20


@pytest.fixture(scope="module", autouse=True)
def _tracker_running() -> None:
    # Named semaphores (spawn/forkserver contexts) start the tracker on first use;
    # start it before the per-test fd leak check takes its snapshot.
    ensure_running()




def _finish(q: mproc.queues.Queue) -> None:
    q.close()
    q.join_thread()


def _store_is_empty(q: object) -> bool:
    """No page of the queue's shared file holds data (every region was freed)."""
    try:
        os.lseek(q._store.fd, 0, os.SEEK_DATA)  # type: ignore[attr-defined]
    except OSError:
        return True
    return False


# -- children (module level, so spawn and forkserver children can import them) -----


def _put_range(q, start, stop):
    for i in range(start, stop):
        q.put(i)


def _put_tagged(q, tag, n):
    for i in range(n):
        q.put((tag, i))


def _put_items(q, items):
    for item in items:
        q.put(item)


def _put_then_cancel(q, n):
    for i in range(n):
        q.put(i)
    q.cancel_join_thread()


def _put_close_join(q, n, done):
    for i in range(n):
        q.put(i)
    q.close()
    q.join_thread()
    done.set()


def _get_into(q, n, out):
    out.put([q.get(timeout=TIMEOUT) for _ in range(n)])


def _wait_then_get(q, n, out, go):
    go.wait(TIMEOUT)
    out.put([q.get(timeout=TIMEOUT) for _ in range(n)])


def _echo(q_in, q_out, n):
    for _ in range(n):
        q_out.put(q_in.get(timeout=TIMEOUT))


def _put_big_forever(q, size):
    payload = os.urandom(size)
    while True:
        q.put(payload)


def _get_forever(q):
    while True:
        q.get()


def _task_worker(q, seen):
    for item in iter(q.get, None):
        seen.put(item)
        q.task_done()
    q.task_done()


def _report_empty(q, can_start, done):
    can_start.wait(TIMEOUT)
    try:
        q.put(q.empty())
        q.put(q.empty())
    finally:
        done.set()


def _put_bigs(q, n, size):
    for i in range(n):
        q.put(bytes([i % 256]) * size)


# -- the stdlib's API ------------------------------------------------------------


def test_fifo_qsize_empty_full_in_one_process(ctx):
    q = ctx.Queue(maxsize=3)
    assert q.empty() and not q.full() and q.qsize() == 0
    q.put(1)
    q.put("two", True)
    q.put_nowait((3, 3.0))
    assert q.qsize() == 3 and q.full() and not q.empty()
    start = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(4, False)
    with pytest.raises(queue.Full):
        q.put_nowait(4)
    with pytest.raises(queue.Full):
        q.put(4, True, 0.2)
    assert 0.15 < time.monotonic() - start < 5
    assert [q.get(), q.get(timeout=1), q.get_nowait()] == [1, "two", (3, 3.0)]
    assert q.empty() and q.qsize() == 0
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(False)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    assert time.monotonic() - start < 0.5
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(True, 0.2)
    assert 0.15 < time.monotonic() - start < 5
    _finish(q)


def test_items_of_every_shape_round_trip_through_a_child(ctx):
    items = [
        None, 0, -1, 2**100, 1.5, "x", "é" * 3000, b"", b"small", b"\x01" * (PACKET_MAX + 1),
        bytearray(b"y" * 100_000), (1, "a", 2.0), [1, [2, [3]]], {"k": (1, 2)},
        {1, 2, 3}, frozenset({4}), list(range(20_000)), b"z" * BIG, bytearray(BIG),
        memoryview(b"abc" * 5000), memoryview(bytearray(range(256)) * 100).cast("H"),
        ValueError("boom"), len,
    ]
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_echo, args=(q_in, q_out, len(items)))
    with started(p):
        for item in items:
            q_in.put(item)
        got = [q_out.get(timeout=TIMEOUT) for _ in items]
        p.join(TIMEOUT)
    assert p.exitcode == 0
    for sent, back in zip(items, got, strict=True):
        if isinstance(sent, memoryview):
            assert isinstance(back, memoryview)
            assert (back.format, back.shape, back.tobytes()) == (
                sent.format, sent.shape, sent.tobytes())
        elif isinstance(sent, Exception):
            assert type(back) is type(sent) and back.args == sent.args
        else:
            assert type(back) is type(sent) and back == sent
    _finish(q_in)
    _finish(q_out)


@pytest.mark.skipif(np is None, reason="numpy is not installed")
def test_numpy_arrays_cross_writable_and_equal(ctx):
    arrays = [np.arange(10.0), np.arange(2_000_000, dtype=np.int32).reshape(1000, 2000),
              np.asfortranarray(np.ones((600, 700))), np.arange(100_000)[::3]]
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_echo, args=(q_in, q_out, len(arrays)))
    with started(p):
        for a in arrays:
            q_in.put(a)
        got = [q_out.get(timeout=TIMEOUT) for _ in arrays]
        p.join(TIMEOUT)
    for sent, back in zip(arrays, got, strict=True):
        assert back.dtype == sent.dtype and back.shape == sent.shape
        assert np.array_equal(back, sent)
        assert back.flags.writeable
        back[...] = 0  # writable, and ours alone
    assert np.array_equal(arrays[1], np.arange(2_000_000, dtype=np.int32).reshape(1000, 2000))
    _finish(q_in)
    _finish(q_out)


def test_fifo_per_producer_with_many_producers_and_one_consumer(ctx):
    q = ctx.Queue()
    producers = [ctx.Process(target=_put_tagged, args=(q, tag, 2000)) for tag in range(3)]
    with started(*producers):
        got = [q.get(timeout=TIMEOUT) for _ in range(6000)]
        for p in producers:
            p.join(TIMEOUT)
    for tag in range(3):
        assert [i for t, i in got if t == tag] == list(range(2000))
    _finish(q)


def test_many_producers_and_consumers_each_item_once(ctx):
    q, out = ctx.Queue(), ctx.Queue()
    producers = [ctx.Process(target=_put_tagged, args=(q, tag, 1500)) for tag in range(3)]
    consumers = [ctx.Process(target=_get_into, args=(q, 1500, out)) for _ in range(3)]
    with started(*producers, *consumers):
        results = [out.get(timeout=TIMEOUT) for _ in consumers]
        for p in (*producers, *consumers):
            p.join(TIMEOUT)
    received = sorted(item for chunk in results for item in chunk)
    assert received == sorted((tag, i) for tag in range(3) for i in range(1500))
    for chunk in results:  # what one consumer saw of one producer is in order
        for tag in range(3):
            mine = [i for t, i in chunk if t == tag]
            assert mine == sorted(mine)
    _finish(q)
    _finish(out)


def test_threads_share_a_queue(ctx):
    q = ctx.Queue()
    got: list[int] = []
    lock = threading.Lock()

    def consume():
        for _ in range(1000):
            item = q.get(timeout=TIMEOUT)
            with lock:
                got.append(item)

    threads = [threading.Thread(target=_put_range, args=(q, k * 1000, (k + 1) * 1000))
               for k in range(4)]
    threads += [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(got) == list(range(4000))
    _finish(q)


def test_empty_seen_from_a_child_and_after_it_puts(ctx):
    q = ctx.SimpleQueue()
    can_start, done = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_report_empty, args=(q, can_start, done))
    with started(p):
        assert q.empty()
        can_start.set()
        assert done.wait(TIMEOUT)
        assert not q.empty()
        assert q.get() is True
        assert q.get() is False
        assert q.empty()
        p.join(TIMEOUT)
    q.close()


def test_joinable_queue_join_and_task_done(ctx):
    q, seen = ctx.JoinableQueue(), ctx.Queue()
    workers = [ctx.Process(target=_task_worker, args=(q, seen)) for _ in range(2)]
    with started(*workers):
        for i in range(20):
            q.put(i)
        q.join()
        assert sorted(seen.get(timeout=TIMEOUT) for _ in range(20)) == list(range(20))
        for _ in workers:
            q.put(None)
        q.join()
        for p in workers:
            p.join(TIMEOUT)
    assert [p.exitcode for p in workers] == [0, 0]
    with pytest.raises(ValueError, match="task_done\\(\\) called too many times"):
        q.task_done()
    _finish(q)
    _finish(seen)


def test_closed_queue_refuses_put_and_get(ctx):
    for q in (ctx.Queue(), ctx.JoinableQueue()):
        with pytest.raises(AssertionError):
            q.join_thread()
        q.close()
        with pytest.raises(ValueError, match="is closed"):
            q.put("foo")
        with pytest.raises(ValueError, match="is closed"):
            q.get()
        q.join_thread()
        assert q.empty()  # unused: close() keeps the channels, as the stdlib does
    used = ctx.Queue()
    used.put(1)
    _finish(used)
    with pytest.raises(OSError, match="is closed"):
        used.empty()


def test_simple_queue_basics(ctx):
    q = ctx.SimpleQueue()
    assert q.empty()
    q.put([1, 2])
    q.put(b"b" * BIG)
    assert not q.empty()
    assert q.get() == [1, 2]
    assert q.get() == b"b" * BIG
    # What concurrent.futures reaches for: _reader waited on, then recv().
    reader = q._reader
    assert mproc.connection.wait([reader], timeout=0.05) == []
    q._writer.send("via writer")
    assert mproc.connection.wait([reader], timeout=TIMEOUT) == [reader]
    assert reader.poll() and reader.recv() == "via writer"
    q.close()
    q = ctx.SimpleQueue()
    q.put("x")
    q._writer.close()  # a pool worker closes the end it does not use...
    assert q._writer.closed and not q._reader.closed
    assert q.get() == "x"  # ...and keeps reading
    q.close()
    q.close()  # twice is fine
    assert q._reader.closed and q._writer.closed


def test_pickling_outside_process_start_is_refused(ctx):
    for q in (ctx.Queue(), ctx.JoinableQueue(), ctx.SimpleQueue()):
        with pytest.raises(RuntimeError, match="inheritance"):
            pickle.dumps(q)
        q.close()


def test_fork_context_queue_cannot_go_to_a_spawned_child():
    q = mproc.get_context("fork").Queue()
    p = mproc.get_context("spawn").Process(target=_put_range, args=(q, 0, 1))
    with pytest.raises(RuntimeError, match="A SemLock created in a fork"):
        p.start()
    q.close()


def test_feeder_error_hook_overridden_keeps_stdlib_behaviour():
    calls = []

    class Unpicklable:
        def __reduce__(self):
            raise AttributeError("no")

    class SafeQueue(mproc.queues.Queue):
        @staticmethod
        def _on_queue_feeder_error(e, obj):
            calls.append((type(e), type(obj)))

    q = SafeQueue(ctx=mproc.get_context())
    q.put(Unpicklable())  # the hook takes it: no exception here
    q.put(True)
    assert q.get(timeout=TIMEOUT) is True
    assert calls == [(AttributeError, Unpicklable)]
    assert q.qsize() == 0
    _finish(q)


def test_qsize_without_sem_getvalue(ctx, monkeypatch):
    monkeypatch.setattr(queue_module, "_sem_value_works", lambda sem: False)
    q = ctx.Queue()
    assert q._counts is not None
    q.put(1)
    q.put(2)
    assert q.qsize() == 2
    p = ctx.Process(target=_put_range, args=(q, 3, 6))
    with started(p):
        p.join(TIMEOUT)
    assert q.qsize() == 5
    assert sorted(q.get(timeout=TIMEOUT) for _ in range(5)) == [1, 2, 3, 4, 5]
    assert q.qsize() == 0
    _finish(q)


# -- beyond the stdlib ------------------------------------------------------------


class _NoPickle:
    def __reduce__(self):
        raise TypeError("this object refuses to be pickled")


def test_unpicklable_object_raises_in_put_with_callers_traceback(ctx):
    q = ctx.Queue(maxsize=2)
    for bad in (_NoPickle(), threading.Lock(), [1, _NoPickle()]):
        with pytest.raises(TypeError) as info:
            q.put(bad)
        frames = [f.name for f in traceback.extract_tb(info.tb)]
        assert "test_unpicklable_object_raises_in_put_with_callers_traceback" in frames
    assert q.qsize() == 0 and q.empty() and not q.full()  # no slot was leaked
    q.put(1)
    q.put(2)
    assert [q.get(timeout=TIMEOUT), q.get(timeout=TIMEOUT)] == [1, 2]
    sq = ctx.SimpleQueue()
    with pytest.raises(TypeError):
        sq.put(_NoPickle())
    sq.close()
    _finish(q)


def test_child_puts_10000_then_exits_and_is_joined_before_draining(ctx):
    q = ctx.Queue()
    p = ctx.Process(target=_put_range, args=(q, 0, 10_000))
    with started(p):
        p.join(TIMEOUT)  # the stdlib deadlocks here: the child waits for room
        assert p.exitcode == 0
    got = [q.get(timeout=TIMEOUT) for _ in range(10_000)]
    assert got == list(range(10_000))
    with pytest.raises(queue.Empty):
        q.get(timeout=0.1)
    _finish(q)


def test_set_aside_batch_is_shared_by_several_readers(ctx):
    q, out, done = ctx.Queue(), ctx.Queue(), ctx.Event()
    producer = ctx.Process(target=_put_close_join, args=(q, 3000, done))
    with started(producer):
        assert done.wait(TIMEOUT)  # join_thread() returned without any reader
        producer.join(TIMEOUT)
    assert producer.exitcode == 0
    readers = [ctx.Process(target=_get_into, args=(q, 1000, out)) for _ in range(3)]
    with started(*readers):
        chunks = [out.get(timeout=TIMEOUT) for _ in readers]
        for r in readers:
            r.join(TIMEOUT)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(3000))
    for chunk in chunks:
        assert chunk == sorted(chunk)
    assert q.empty()
    _finish(q)
    _finish(out)


def test_items_set_aside_come_after_those_already_in_the_channel(ctx, monkeypatch):
    # This process fills the channel, then join_thread() sets the rest aside; a
    # reader started before must still see every item, in order.
    monkeypatch.setattr(feeding, "PACE", 0.0)
    q, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    reader = ctx.Process(target=_wait_then_get, args=(q, 2000, out, go))
    with started(reader):
        for i in range(2000):
            q.put(i)
        assert q._sender is not None and q._sender._pending  # the channel is full
        q.close()
        q.join_thread()  # returns at once: nobody reads yet
        go.set()
        assert out.get(timeout=TIMEOUT) == list(range(2000))
        reader.join(TIMEOUT)
    _finish(out)


def test_cancel_join_thread_lets_a_child_exit_at_once(ctx):
    q = ctx.Queue()
    p = ctx.Process(target=_put_then_cancel, args=(q, 5000))
    with started(p):
        p.join(TIMEOUT)
        assert p.exitcode == 0
    got = []
    with contextlib.suppress(queue.Empty):
        while True:
            got.append(q.get(timeout=0.2))
    assert got == list(range(len(got)))  # a prefix, in order
    _finish(q)


@pytest.mark.parametrize("rounds", [3])
def test_producer_killed_while_putting_large_items_does_not_wedge(ctx, rounds):
    q = ctx.Queue()
    received: list[object] = []
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                received.append(q.get(timeout=0.05))

    drainer = threading.Thread(target=drain)
    drainer.start()
    try:
        for r in range(rounds):
            victim = ctx.Process(target=_put_big_forever, args=(q, 16 << 20))
            with started(victim):
                deadline = time.monotonic() + TIMEOUT
                while not any(isinstance(x, bytes) for x in received):
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                time.sleep(0.01 + 0.02 * r)  # somewhere in the middle of a put
                os.kill(victim.pid, signal.SIGKILL)
                victim.join(TIMEOUT)
            assert victim.exitcode == -signal.SIGKILL
            received.clear()
    finally:
        stop.set()
        drainer.join(TIMEOUT)
    # Whatever was in flight is either delivered whole or not at all...
    start = time.monotonic()
    leftovers = []
    with contextlib.suppress(queue.Empty):
        while True:
            leftovers.append(q.get(timeout=0.3))
    assert time.monotonic() - start < 10
    assert all(isinstance(x, bytes) and len(x) == 16 << 20 for x in leftovers)
    # ...and the queue works for everybody else.
    other = ctx.Process(target=_put_range, args=(q, 0, 500))
    with started(other):
        assert [q.get(timeout=TIMEOUT) for _ in range(500)] == list(range(500))
        other.join(TIMEOUT)
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    assert time.monotonic() - start < 5
    _finish(q)


def test_consumer_killed_while_reading_leaves_the_queue_usable(ctx):
    q = ctx.Queue()
    victim = ctx.Process(target=_get_forever, args=(q,))
    with started(victim):
        for _ in range(20):
            q.put(b"v" * BIG)
        time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(TIMEOUT)
    with contextlib.suppress(queue.Empty):
        while True:
            assert q.get(timeout=0.2) == b"v" * BIG
    q.put("after")
    assert q.get(timeout=TIMEOUT) == "after"
    _finish(q)


def test_large_items_travel_through_shared_memory_and_are_freed(ctx):
    q = ctx.Queue()
    p = ctx.Process(target=_put_bigs, args=(q, 6, BIG))
    with started(p):
        got = [q.get(timeout=TIMEOUT) for _ in range(6)]
        p.join(TIMEOUT)
    assert [x == bytes([i]) * BIG for i, x in enumerate(got)] == [True] * 6
    assert _store_is_empty(q)  # the writer exited: nothing of its regions remains
    for i in range(6):  # this process writes: regions are reused, then freed at close
        q.put(bytes([i]) * BIG)
        assert q.get(timeout=TIMEOUT) == bytes([i]) * BIG
    assert len(q._store._tracked) <= store.CACHE_SLOTS
    _finish(q)
    assert _store_is_empty(q)


def test_500_queues_created_and_dropped_leave_no_fd_or_shm_entry(ctx):
    def shm_entries() -> set[str]:
        return {n for n in os.listdir("/dev/shm") if f"-{os.getpid()}-" in n}

    def fds() -> set[int]:
        return {int(n) for n in os.listdir("/proc/self/fd")}

    gc.collect()
    fds_before, shm_before = fds(), shm_entries()
    for i in range(500):
        kind = (ctx.Queue, ctx.JoinableQueue, ctx.SimpleQueue)[i % 3]
        q = kind()
        q.put(i)
        if i % 50 == 0:
            q.put(b"L" * BIG)
        assert q.get() == i
        del q
    gc.collect()
    assert {fd for fd in fds() - fds_before if _fd_open(fd)} == set()
    assert shm_entries() == shm_before


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_reader_that_died_mid_read_does_not_hold_a_region_forever(ctx):
    q = ctx.Queue()
    q.put(b"r" * (2 << 20))  # big enough to be tracked for reuse
    offset, capacity = q._store._tracked[0]
    p = ctx.Process(target=_put_range, args=(q, 0, 0))  # a pid that will be dead
    with started(p):
        p.join(TIMEOUT)
    os.pwrite(q._store.fd, (store.READING | p.pid << 8).to_bytes(8, "little"), offset)
    assert q._store._word(offset) == store.KEPT  # its reader is gone: reusable
    q._store.begin(offset, capacity)
    assert q._store._word(offset) == store.READING  # ours is alive
    assert q.get(timeout=TIMEOUT) == b"r" * (2 << 20)
    _finish(q)
    assert _store_is_empty(q)


_DATAGRAM_SCRIPT = r"""
import os
del os.O_DIRECT  # no packet-mode pipes: datagram sockets instead
import mproc
from mproc._queues import transport
assert not transport.PACKET_PIPES

def put_range(q, n):
    for i in range(n):
        q.put(i)

q = mproc.get_context("fork").Queue()
p = mproc.get_context("fork").Process(target=put_range, args=(q, 5000))
p.start()
p.join(30)
assert p.exitcode == 0
assert [q.get(timeout=10) for _ in range(5000)] == list(range(5000))
for item in (b"x" * 5000, "y" * 3000, bytearray(10**6), (1, 2)):
    q.put(item)
    assert q.get(timeout=10) == item
assert q.empty() and q.qsize() == 0
q.close()
q.join_thread()
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="the fallback is the default here")
def test_datagram_fallback_transport():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _DATAGRAM_SCRIPT], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _feeders() -> int:
    return sum(t.name == "QueueFeederThread" for t in threading.enumerate())


def test_feeder_thread_ends_when_its_queue_is_dropped_or_closed(monkeypatch):
    monkeypatch.setattr(feeding, "PACE", 0.0)
    ctx = mproc.get_context("fork")
    before = _feeders()
    queues = [ctx.Queue(), ctx.SimpleQueue(), ctx.Queue()]
    for q in queues:
        for i in range(600):  # more than the channel holds: a feeder starts
            q.put(i)
    assert _feeders() == before + 3
    for q in queues:
        assert [q.get() for _ in range(600)] == list(range(600))
    queues[0].close()
    del queues[1]  # dropped with an idle feeder
    queues[1].cancel_join_thread()
    queues[1].close()
    queues[1].join_thread()
    deadline = time.monotonic() + TIMEOUT
    while _feeders() > before:
        assert time.monotonic() < deadline
        gc.collect()
        time.sleep(0.01)
    del queues


def test_two_objects_of_one_queue_in_one_process_write_to_different_windows():
    first = store.Store.create()
    second = store.Store(os.dup(first.fd))  # the same file, as if unpickled twice
    a, _, _ = first.reserve(100)
    b, _, _ = second.reserve(100)
    assert a >> store.WINDOW_SHIFT != b >> store.WINDOW_SHIFT
    first.write(a, [b"a" * 100])
    second.write(b, [b"b" * 100])
    assert first.read(a, 100) == b"a" * 100 and second.read(b, 100) == b"b" * 100
    second.close()
    first.close()


def test_feeder_stops_quietly_when_every_reader_is_gone():
    """A broken pool's call queue: its workers (every reader) are dead and the parent
    closed its read end. Pending items can never be delivered; the feeder thread
    must drop them and stop, not die with BrokenPipeError, and close() must not raise."""
    import threading

    errors = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    q = mproc.Queue()
    try:
        for _ in range(3000):  # more than the channel holds: a feeder thread takes over
            q.put(b"x" * 1000)
        q._reader.close()
        q.close()
        q.join_thread()
        time.sleep(0.2)  # a feeder that was mid-write has met EPIPE by now
    finally:
        threading.excepthook = previous
    assert errors == []
    sender = q._sender
    assert sender is not None and sender._thread is not None
    sender._thread.join(5)
    assert not sender._thread.is_alive()


def test_feeder_error_hook_keeps_no_frame_of_the_putting_thread_alive():
    """A subclass's ``_on_queue_feeder_error`` may keep the error (concurrent.futures
    sets it on a Future); the error must not keep the thread that called put() alive."""
    import gc
    import threading
    import weakref

    kept = []

    class Keeping(mproc.queues.Queue):
        def _on_queue_feeder_error(self, e, obj):
            kept.append(e)

    queue = Keeping(ctx=mproc.get_context())
    thread = threading.Thread(target=queue.put, args=(threading.Lock(),))
    gc.disable()
    try:
        thread.start()
        thread.join(10)
        gone = weakref.ref(thread)
        del thread
        assert gone() is None, "the putting thread is still referenced by the kept error"
    finally:
        gc.enable()
    assert len(kept) == 1 and isinstance(kept[0], TypeError)
    queue.close()
    queue.join_thread()


@pytest.mark.parametrize("receive", ["recv_bytes", "recv"])
def test_a_shared_reader_takes_only_its_own_message_off_the_pipe(receive):
    # Several processes read one classic queue's pipe; a reader that read ahead (as
    # a plain Connection's fast path does) would take the next reader's message.
    from mproc._queues.classic import SharedReader, _one_way_pipe

    reader, writer = _one_way_pipe()
    other = SharedReader(os.dup(reader.fileno()), writable=False)  # another process's end
    try:
        send = writer.send_bytes if receive == "recv_bytes" else writer.send
        first, second = (b"first", b"second") if receive == "recv_bytes" else (("a", 1), ("b", 2))
        send(first)
        send(second)
        assert getattr(reader, receive)() == first
        assert other.poll(5)
        assert getattr(other, receive)() == second
    finally:
        for conn in (reader, other, writer):
            conn.close()
