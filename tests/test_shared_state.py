"""Shared state: SharedMemory and ShareableList, the arena heap, and sharedctypes.

Across processes under every start method; who owns a segment (only its creator,
so attaching processes never remove it, and a killed creator's segment is removed
by the tracker); and that creating and dropping objects leaves no fd, mapping or
``/dev/shm`` entry behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

import mproc
from mproc import heap, shared_memory, sharedctypes
from mproc._shm.tracker import ensure_running

TIMEOUT = 30
SHM_DIR = "/dev/shm"


@pytest.fixture(scope="module", autouse=True)
def _tracker_running() -> None:
    # A long-lived helper started on first need: start it before the per-test fd
    # leak check takes its snapshot.
    ensure_running()


def _segments() -> set[str]:
    try:
        return {name for name in os.listdir(SHM_DIR) if name.startswith("psm_")}
    except FileNotFoundError:  # pragma: no cover - no /dev/shm
        return set()


@pytest.fixture(autouse=True)
def no_segments_left() -> Iterator[None]:
    """Fail a test that leaves a shared-memory segment behind."""
    before = _segments()
    yield
    gc.collect()
    left = _segments() - before
    for name in left:
        with contextlib.suppress(OSError):
            shared_memory.SharedMemory(name).unlink()
    assert not left, f"test left segments in {SHM_DIR}: {sorted(left)}"


@contextlib.contextmanager
def started(*procs: mproc.Process) -> Iterator[None]:
    """Start processes; on the way out kill whatever still runs and join it."""
    try:
        for p in procs:
            p.start()
        yield
    finally:
        for p in procs:
            if p._popen is not None and p.exitcode is None:
                p.join(TIMEOUT)
                if p.exitcode is None:
                    p.kill()
                    p.join(TIMEOUT)


def run_child(ctx, target, *args) -> int | None:
    p = ctx.Process(target=target, args=args)
    with started(p):
        p.join(TIMEOUT)
    return p.exitcode


def run_python(code: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run ``code`` in a separate interpreter (its own process tree and tracker)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout)


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double), ("z", ctypes.c_longlong)]


# -- children (module level, so spawn and forkserver children can import them) -----


def _double_all(x, y, point, arr, text):
    x.value *= 2
    y.value *= 2
    point.x *= 2
    point.y *= 2
    text.value *= 2
    for i in range(len(arr)):
        arr[i] *= 2


def _add_under_lock(counter, times):
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


def _same_arena(a, b):
    """Exit 0 if two objects of one arena arrived mapped once, else 1."""
    first = a.get_obj()._wrapper._state[0][0]
    second = b._wrapper._state[0][0]
    a.value = 11
    b[0] = 22
    sys.exit(0 if first is second else 1)


def _write_segment(name_or_segment, data):
    if isinstance(name_or_segment, str):
        segment = shared_memory.SharedMemory(name_or_segment)
    else:
        segment = name_or_segment
    segment.buf[: len(data)] = data
    segment.close()


def _change_list(sl):
    sl[0] = "changed"
    sl[1] = 99
    sl.shm.close()


def _fork_child_allocates(value):
    mine = sharedctypes.RawValue("i", 99)
    fresh = not heap.BufferWrapper._heap._arenas[:-1]  # only the arena for `mine`
    separate = mine._wrapper._state[0][0] is not value._wrapper._state[0][0]
    sys.exit(0 if fresh and separate and value.value == 7 and mine.value == 99 else 1)


# -- sharedctypes across processes ---------------------------------------------------


@pytest.mark.parametrize("lock", [True, False])
def test_values_and_arrays_are_shared(ctx, lock: bool) -> None:
    x = ctx.Value("i", 7, lock=lock)
    y = ctx.Value(ctypes.c_double, 1.0 / 3.0, lock=lock)
    point = ctx.Value(Point, 3, 2, lock=lock)
    arr = ctx.Array("d", list(range(10)), lock=lock)
    text = ctx.Array("c", 20, lock=lock)
    text.value = b"hello"
    assert run_child(ctx, _double_all, x, y, point, arr, text) == 0
    assert x.value == 14
    assert y.value == pytest.approx(2.0 / 3.0)
    assert (point.x, point.y) == (6, 4.0)
    assert list(arr[:]) == [2.0 * i for i in range(10)]
    assert text.value == b"hellohello"


def test_lock_makes_increments_atomic(ctx) -> None:
    counter = ctx.Value("i", 0)
    procs = [ctx.Process(target=_add_under_lock, args=(counter, 200)) for _ in range(2)]
    with started(*procs):
        for p in procs:
            p.join(TIMEOUT)
    assert [p.exitcode for p in procs] == [0, 0]
    assert counter.value == 400


def test_child_maps_an_arena_once(ctx) -> None:
    a = ctx.Value("i", 1)
    b = sharedctypes.RawArray("i", 4)
    assert a.get_obj()._wrapper._state[0][0] is b._wrapper._state[0][0]
    assert run_child(ctx, _same_arena, a, b) == 0
    assert (a.value, b[0]) == (11, 22)


def test_fork_child_has_its_own_heap() -> None:
    ctx = mproc.get_context("fork")
    value = sharedctypes.RawValue("i", 7)
    assert run_child(ctx, _fork_child_allocates, value) == 0
    assert value.value == 7


def test_pickling_outside_a_start_is_refused() -> None:
    with pytest.raises(RuntimeError, match="through inheritance"):
        mproc.reduction.ForkingPickler.dumps(sharedctypes.RawValue("i", 1))
    with pytest.raises(RuntimeError, match="through inheritance"):
        mproc.reduction.ForkingPickler.dumps(sharedctypes.Value("i", 1))


# -- sharedctypes API ----------------------------------------------------------------


def test_value_lock_argument() -> None:
    assert sharedctypes.Value("i", 5).get_obj().value == 5
    assert sharedctypes.Value("i", 5, lock=None).get_lock() is not None
    lock = mproc.Lock()
    assert sharedctypes.Value("i", 5, lock=lock).get_lock() is lock
    raw = sharedctypes.Value("i", 5, lock=False)
    assert isinstance(raw, ctypes.c_int)
    assert not hasattr(raw, "get_lock")
    with pytest.raises(AttributeError, match="acquire"):
        sharedctypes.Value("i", 5, lock="notalock")
    with pytest.raises(AttributeError, match="acquire"):
        sharedctypes.Array("i", 3, lock=object())


def test_arrays_index_slice_and_strings() -> None:
    arr = sharedctypes.Array("i", range(10))
    assert len(arr) == 10
    assert arr[3] == 3 and arr[-1] == 9
    arr[2:5] = [20, 30, 40]
    assert list(arr[1:6]) == [1, 20, 30, 40, 5]
    text = sharedctypes.Array("c", b"abc\x00def")
    assert text.value == b"abc"
    assert text.raw == b"abc\x00def"
    text.raw = b"xyz\x00uvw"
    assert text.value == b"xyz"
    assert "SynchronizedString wrapper" in repr(text)
    with text:
        assert text.get_lock()._is_owned()


def test_new_arrays_are_zeroed() -> None:
    for _ in range(3):
        arr = sharedctypes.RawArray("i", 10)
        assert list(arr) == [0] * 10
        arr[:] = range(10)
        del arr


def test_synchronized_and_copy() -> None:
    point = sharedctypes.RawValue(Point, 1, 2.5, 2**33)
    wrapped = sharedctypes.synchronized(point)
    assert type(wrapped).__name__ == "SynchronizedPoint"
    wrapped.x = 5
    assert point.x == 5
    with pytest.raises(TypeError):
        sharedctypes.synchronized(wrapped)
    dup = sharedctypes.copy(Point(2, 5.0, 2**33))
    assert (dup.x, dup.y, dup.z) == (2, 5.0, 2**33)
    assert hasattr(dup, "_wrapper")


# -- the heap ------------------------------------------------------------------------


@pytest.fixture
def fresh_heap(monkeypatch: pytest.MonkeyPatch) -> heap.Heap:
    pristine = heap.Heap()
    monkeypatch.setattr(heap.BufferWrapper, "_heap", pristine)
    return pristine


def test_heap_reuses_freed_blocks(fresh_heap: heap.Heap) -> None:
    keep = heap.BufferWrapper(100)
    first = heap.BufferWrapper(100)
    block = first._state[0]
    del first
    again = heap.BufferWrapper(100)
    assert again._state[0] == block
    assert len(fresh_heap._arenas) == 1
    view = again.create_memoryview()
    assert len(view) == 100 and not view.readonly
    view.release()
    del keep, again
    assert fresh_heap._arenas == [] and fresh_heap._allocated_blocks == {}
    assert fresh_heap._n_mallocs == fresh_heap._n_frees == 3


def test_heap_blocks_tile_their_arenas(fresh_heap: heap.Heap) -> None:
    import random

    rng = random.Random(1)
    blocks = []
    for _ in range(2000):
        blocks.append(heap.BufferWrapper(rng.randrange(1, 5000)))
        if len(blocks) > 40:
            del blocks[rng.randrange(len(blocks))]
    with fresh_heap._lock:
        pieces = sorted(
            [(fresh_heap._arenas.index(a), start, stop) for seq in fresh_heap._len_to_seq.values()
             for a, start, stop in seq]
            + [(fresh_heap._arenas.index(a), start, stop)
               for a, used in fresh_heap._allocated_blocks.items() for start, stop in used]
        )
    for (arena, _start, stop), (next_arena, next_start, _) in zip(pieces, pieces[1:], strict=False):
        if arena == next_arena:
            assert stop == next_start
        else:
            assert stop == fresh_heap._arenas[arena].size and next_start == 0
    blocks.clear()
    assert fresh_heap._arenas == [] and fresh_heap._len_to_seq == {}


def test_heap_from_several_threads(fresh_heap: heap.Heap) -> None:
    import random
    import threading

    def churn(seed: int) -> None:
        rng = random.Random(seed)
        live = []
        for _ in range(1000):
            live.append(heap.BufferWrapper(rng.randrange(1, 2000)))
            if len(live) > 20:
                live.pop(rng.randrange(len(live)))

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    heap.BufferWrapper(1)  # flushes any free queued while another thread held the heap
    assert fresh_heap._n_mallocs == fresh_heap._n_frees == 3001
    assert fresh_heap._arenas == [] and fresh_heap._allocated_blocks == {}


def test_free_from_gc_inside_malloc_is_deferred(fresh_heap: heap.Heap) -> None:
    thresholds = gc.get_threshold()
    gc.set_threshold(10)
    try:
        for _ in range(3000):
            a, b = heap.BufferWrapper(1), heap.BufferWrapper(1)
            a.buddy, b.buddy = b, a
    finally:
        gc.set_threshold(*thresholds)
    del a, b
    gc.collect()
    heap.BufferWrapper(1)  # flushes frees queued while the heap was busy
    gc.collect()
    assert fresh_heap._pending_free_blocks == []
    assert fresh_heap._n_mallocs == fresh_heap._n_frees


# -- SharedMemory --------------------------------------------------------------------


def test_segment_written_by_child_is_read_by_parent(ctx) -> None:
    segment = shared_memory.SharedMemory(create=True, size=512)
    try:
        assert run_child(ctx, _write_segment, segment.name, b"howdy") == 0
        assert bytes(segment.buf[:5]) == b"howdy"
        assert run_child(ctx, _write_segment, segment, b"HELLO") == 0
        assert bytes(segment.buf[:5]) == b"HELLO"
        # The attaching children exited: the segment is still there.
        assert segment.name in _segments()
    finally:
        segment.close()
        segment.unlink()


def test_shareable_list_across_processes(ctx) -> None:
    sl = shared_memory.ShareableList(["howdy", 1, None])
    try:
        assert run_child(ctx, _change_list, sl) == 0
        assert list(sl) == ["changed", 99, None]
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_segment_basics() -> None:
    segment = shared_memory.SharedMemory(create=True, size=100)
    try:
        assert segment.size >= 100 and len(segment.buf) == segment.size
        assert not segment.name.startswith("/") and segment._name == "/" + segment.name
        assert repr(segment) == f"SharedMemory({segment.name!r}, size={segment.size})"
        copy = pickle.loads(pickle.dumps(segment))
        copy.buf[0] = 42
        assert segment.buf[0] == 42
        copy.close()
        assert type(segment).__module__ == "mproc.shared_memory"
    finally:
        segment.close()
        segment.unlink()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(segment.name)
    with pytest.raises(FileNotFoundError):
        segment.unlink()
    for bad in ({"create": True, "size": 0}, {"create": True, "size": -1}, {}):
        with pytest.raises(ValueError):
            shared_memory.SharedMemory(**bad)


def test_named_segment_and_name_collisions() -> None:
    name = f"mproc_test_{os.getpid()}"
    segment = shared_memory.SharedMemory(name, create=True, size=64)
    try:
        assert segment.name == name
        with pytest.raises(FileExistsError):
            shared_memory.SharedMemory(name, create=True, size=64)
        same = shared_memory.SharedMemory(name, size=10**6)  # size ignored on attach
        assert same.size == segment.size
        same.close()
    finally:
        segment.close()
        segment.unlink()


def test_separate_program_attaching_never_unlinks() -> None:
    segment = shared_memory.SharedMemory(create=True, size=16)
    try:
        result = run_python("""
            import sys
            from mproc.shared_memory import SharedMemory
            m = SharedMemory(sys.argv[1], track=True)
            m.buf[0] = 7
            m.close()
        """, segment.name)
        assert result.returncode == 0, result.stderr
        assert "resource_tracker" not in result.stderr
        again = shared_memory.SharedMemory(segment.name)
        assert again.buf[0] == 7
        again.close()
    finally:
        segment.close()
        segment.unlink()


def test_untracked_creator_leaves_its_segment() -> None:
    result = run_python("""
        from mproc.shared_memory import SharedMemory
        m = SharedMemory(create=True, size=16, track=False)
        print(m.name)
        m.close()
    """)
    assert result.returncode == 0, result.stderr
    name = result.stdout.strip()
    assert "resource_tracker" not in result.stderr
    assert name in _segments()
    shared_memory.SharedMemory(name).unlink()


def test_killed_creator_segment_is_removed_by_the_tracker() -> None:
    code = """
        import sys, time
        from mproc.shared_memory import SharedMemory
        m = SharedMemory(create=True, size=16)
        print(m.name, flush=True)
        time.sleep(60)
    """
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            name = proc.stdout.readline().strip()  # type: ignore[union-attr]
            assert name in _segments()
            os.kill(proc.pid, signal.SIGKILL)
            # stderr reaches EOF once the creator's tracker, which shares it, is done.
            _out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            proc.kill()
    assert name not in _segments()
    assert "leaked shared_memory" in err


def test_create_and_drop_leaves_nothing() -> None:
    fds = set(os.listdir("/proc/self/fd"))
    segments = _segments()
    for i in range(500):
        segment = shared_memory.SharedMemory(create=True, size=4096)
        segment.buf[0] = i % 256
        segment.close()
        segment.unlink()
        value = sharedctypes.RawArray("d", 64)
        value[0] = i
        del value
    for _ in range(3):
        sl = shared_memory.ShareableList([1, "two"])
        sl.shm.close()
        sl.shm.unlink()
    gc.collect()
    assert set(os.listdir("/proc/self/fd")) <= fds
    assert _segments() == segments
    shared = heap.BufferWrapper._heap
    assert all(shared._allocated_blocks.get(arena) for arena in shared._arenas)  # none idle


# -- ShareableList -------------------------------------------------------------------


def test_shareable_list_type_rules() -> None:
    sl = shared_memory.ShareableList(["howdy", b"HoWdY", -273.154, 100, None, True, 42])
    try:
        assert sl.format == "8s8sdqxxxxxx?xxxxxxxx?q"
        assert len(sl) == 7 and sl[-2] is True and sl[4] is None
        assert sl.index(100) == 3 and sl.count(42) == 1
        with pytest.raises(ValueError):
            sl.index("100")
        with pytest.raises(IndexError):
            sl[7]
        with pytest.raises(IndexError):
            sl[7] = 1
        sl[4] = "some"
        assert sl.format == "8s8sdq8sxxxxxxx?q"
        with pytest.raises(ValueError, match="exceeds available storage"):
            sl[4] = "far too many"
        sl[0] = "encodés"  # 8 bytes of UTF-8
        assert sl[0] == "encodés" and sl[1] == b"HoWdY"
        with pytest.raises(ValueError, match="exceeds available storage"):
            sl[0] = "encodées"
        with pytest.raises(TypeError):
            sl[2] = [1]
        other = shared_memory.ShareableList(name=sl.shm.name)
        other[-1] = 880
        assert sl[-1] == 880
        assert len(pickle.dumps(other)) < 200
        other.shm.close()
        assert repr(sl).startswith("ShareableList([")
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_shareable_list_sizes_text_by_encoded_length() -> None:
    text = "ééééééé"  # 7 characters, 14 bytes: would be cut short in an 8-byte slot
    sl = shared_memory.ShareableList([text, b""])
    try:
        assert sl[0] == text and sl[1] == b""
        empty = shared_memory.ShareableList()
        assert len(empty) == 0 and empty.format == "" and empty.count(None) == 0
        empty.shm.close()
        empty.shm.unlink()
    finally:
        sl.shm.close()
        sl.shm.unlink()
