# pyright: strict
"""A user's program against mproc's public API, for type checkers only (never run).

tests/test_typing.py checks it with ``mypy --strict --python-version 3.11`` and
``pyright --pythonversion 3.11`` (strict, from the comment above). ``assert_type``
states what a checker must infer; the lines marked ``# type: ignore[...]`` /
``# pyright: ignore[...]`` must be errors: mypy runs with ``warn_unused_ignores``,
pyright with tests/typing/pyrightconfig.json (``reportUnnecessaryTypeIgnoreComment``,
and ``# type: ignore`` left to mypy), so an ignore that is not needed fails the check.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import mproc as mp
import mproc.connection
import mproc.context
import mproc.errors
import mproc.managers
import mproc.pool
import mproc.queues
import mproc.shared_memory
import mproc.sharedctypes
import mproc.synchronize

if TYPE_CHECKING:
    from typing import assert_type


def square(x: int) -> int:
    return x * x


def add(x: int, y: int) -> int:
    return x + y


def show(x: object) -> str:
    return str(x)


def work(q: mproc.queues.Queue[int]) -> None:
    q.put(1)


def on_progress(done: int, total: int | None) -> None:
    print(done, total)


def contexts(name: str) -> None:
    assert_type(mp.get_context("spawn"), mproc.context.SpawnContext)
    assert_type(mp.get_context("fork"), mproc.context.ForkContext)
    assert_type(mp.get_context("forkserver"), mproc.context.ForkServerContext)
    # None: the concrete context the default start method resolves to.
    assert_type(mp.get_context(), mproc.context.BaseContext)
    assert_type(mp.get_context(name), mproc.context.BaseContext)
    assert_type(mp.get_start_method(), str | None)
    assert_type(mp.get_all_start_methods(), list[str])
    ctx = mp.get_context("spawn")
    assert_type(ctx.Process(target=work), mproc.context.SpawnProcess)
    assert_type(ctx.Queue(), mproc.queues.Queue[Any])
    assert_type(ctx.Pool(2), mproc.pool.Pool)


def processes() -> None:
    q: mproc.queues.Queue[int] = mp.Queue()
    p = mp.Process(target=work, args=(q,), name="worker", daemon=True)
    assert_type(p, mp.Process)
    p.start()
    p.join(timeout=1.0)
    assert_type(p.exitcode, int | None)
    assert_type(p.pid, int | None)
    assert_type(p.is_alive(), bool)
    assert_type(mp.current_process(), mproc.process.BaseProcess)
    assert_type(mp.parent_process(), mproc.process.BaseProcess | None)
    assert_type(mp.active_children(), list[mproc.process.BaseProcess])
    assert_type(mp.cpu_count(), int)
    mp.Process(target=work, args=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def queues() -> None:
    assert_type(mp.Queue(), mproc.queues.Queue[Any])
    q: mproc.queues.Queue[int] = mp.Queue(10)
    q.put(1, timeout=0.5)
    assert_type(q.get(), int)
    assert_type(q.get(timeout=1.0), int)
    assert_type(q.get_nowait(), int)
    assert_type(q.qsize(), int)
    q.put("x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    jq: mproc.queues.JoinableQueue[str] = mp.JoinableQueue()
    jq.put("a")
    assert_type(jq.get(), str)
    jq.task_done()
    jq.join()
    sq: mproc.queues.SimpleQueue[bytes] = mp.SimpleQueue()
    sq.put(b"x")
    assert_type(sq.get(), bytes)


def pipes() -> None:
    a, b = mp.Pipe()
    assert_type(mp.Pipe(duplex=False), tuple[mproc.connection.Connection, mproc.connection.Connection])
    a.send([1, 2])
    assert_type(b.recv(), Any)
    assert_type(b.poll(0.1), bool)
    a.send_bytes(b"abc")
    assert_type(b.recv_bytes(), bytes)


def pools() -> None:
    with mp.Pool(4) as pool:
        assert_type(pool, mproc.pool.Pool)
        assert_type(pool.map(square, range(10)), list[int])
        assert_type(pool.map(show, [1, 2], chunksize=1, timeout=5.0, progress=True), list[str])
        assert_type(pool.map(square, [1], progress=on_progress), list[int])
        assert_type(pool.starmap(add, [(1, 2), (3, 4)]), list[int])
        assert_type(pool.apply(square, (3,)), int)
        r = pool.apply_async(square, (3,), timeout=1.0)
        assert_type(r, mproc.pool.ApplyResult[int])
        assert_type(r.get(timeout=1.0), int)
        assert_type(r.ready(), bool)
        m = pool.map_async(square, [1, 2])
        assert_type(m, mproc.pool.MapResult[int])
        assert_type(m.get(), list[int])
        assert_type(pool.starmap_async(add, [(1, 2)]), mproc.pool.MapResult[int])
        it = pool.imap(square, iter(range(5)), chunksize=2)
        assert_type(it, mproc.pool.IMapIterator[int])
        assert_type(next(it), int)
        assert_type(it.next(timeout=1.0), int)
        for value in pool.imap_unordered(show, [1, 2]):
            assert_type(value, str)
        lazy: Iterator[int] = pool.imap(square, [1])
        print(lazy)
        bad: str = pool.map(str, [1])  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
        pool.map(square, [1], chunksize="x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        pool.map(square, ["a"])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        pool.map(square, [1], progress="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        print(bad)
    with mproc.pool.ThreadPool(2) as tp:
        assert_type(tp, mproc.pool.ThreadPool)
        assert_type(tp.map(square, [1]), list[int])


def synchronization() -> None:
    lock = mp.Lock()
    assert_type(lock, mproc.synchronize.Lock)
    with lock:
        pass
    assert_type(lock.acquire(timeout=1.0), bool)
    # lock.release() and mp.RLock(): see user_program_sync.py
    assert_type(mp.Semaphore(2), mproc.synchronize.Semaphore)
    assert_type(mp.BoundedSemaphore(2), mproc.synchronize.BoundedSemaphore)
    cond = mp.Condition(mp.Lock())
    assert_type(cond, mproc.synchronize.Condition)
    ev = mp.Event()
    assert_type(ev, mproc.synchronize.Event)
    assert_type(ev.wait(0.1), bool)
    assert_type(mp.Barrier(2), mproc.synchronize.Barrier)


def shared_state() -> None:
    v = mp.Value(ctypes.c_int, 0)
    assert_type(v, mproc.sharedctypes.Synchronized[int])
    assert_type(v.value, int)
    with v.get_lock():
        v.value += 1
    d = mp.Value("d", 0.0)
    assert_type(d, mproc.sharedctypes.Synchronized[Any])
    raw = mp.Value(ctypes.c_double, 1.0, lock=False)
    assert_type(raw, ctypes.c_double)
    arr = mp.Array(ctypes.c_double, 10)
    assert_type(arr, mproc.sharedctypes.SynchronizedArray[float])
    assert_type(arr[0], float)
    assert_type(arr[0:2], list[float])
    assert_type(mp.Array(ctypes.c_char, 10), mproc.sharedctypes.SynchronizedString)
    assert_type(mp.Array("i", [1, 2]), mproc.sharedctypes.SynchronizedArray[Any])
    assert_type(mp.RawValue(ctypes.c_int, 1), ctypes.c_int)
    assert_type(mp.RawArray(ctypes.c_int, 3), ctypes.Array[ctypes.c_int])


def managers() -> None:
    with mp.Manager() as manager:
        assert_type(manager, mproc.managers.SyncManager)
        d = manager.dict({"a": 1})
        assert_type(d, mproc.managers.DictProxy[str, int])
        assert_type(d["a"], int)
        assert_type(d.get("b"), int | None)
        d["b"] = 2
        d["c"] = "x"  # type: ignore[assignment]  # pyright: ignore[reportArgumentType]
        assert_type(manager.dict(), mproc.managers.DictProxy[Any, Any])
        numbers = manager.list([1, 2, 3])
        assert_type(numbers, mproc.managers.ListProxy[int])
        numbers.append(4)
        assert_type(numbers[0], int)
        assert_type(numbers[0:2], list[int])
        assert_type(manager.list(), mproc.managers.ListProxy[Any])
        assert_type(manager.Value("i", 3), mproc.managers.ValueProxy[int])
        assert_type(manager.Value("i", 3).value, int)
        assert_type(manager.Lock(), mproc.managers.AcquirerProxy)
        assert_type(manager.Namespace(), mproc.managers.NamespaceProxy)


def shared_memory() -> None:
    shm = mproc.shared_memory.SharedMemory(create=True, size=10)
    assert_type(shm.name, str)
    assert_type(shm.size, int)
    shm.close()
    shm.unlink()
    sl = mproc.shared_memory.ShareableList([1, 2, 3])
    assert_type(sl, mproc.shared_memory.ShareableList[int])
    assert_type(sl[0], int)
    assert_type(sl.shm, mproc.shared_memory.SharedMemory)


def errors() -> None:
    with mp.Pool(1) as pool:
        try:
            pool.apply(square, (1,), timeout=0.1)
        except mproc.errors.TaskTimeoutError as exc:
            assert_type(exc, mproc.errors.TaskTimeoutError)
        except mproc.errors.WorkerLostError:
            pass
    assert issubclass(mproc.errors.TaskTimeoutError, mp.TimeoutError)
    assert issubclass(mp.TimeoutError, mp.ProcessError)


def locks() -> None:
    lock = mp.Lock()
    assert_type(lock.acquire(timeout=1.0), bool)
    assert_type(lock.release(), None)
    rlock = mp.RLock()
    assert_type(rlock, mproc.synchronize.RLock)
    assert_type(rlock.acquire(timeout=1.0), bool)
    rlock.release()
    with rlock:
        pass


def executors() -> None:
    import concurrent.futures

    import mproc.futures as mf

    with mf.ProcessPoolExecutor(2, task_timeout=5.0) as executor:
        future = executor.submit(square, 3)
        assert_type(future, mf.Future[int])
        assert_type(future.result(), int)
        assert_type(future.cancel(running=True), bool)
        assert isinstance(future, concurrent.futures.Future)
        assert_type(executor.map(square, [1, 2], task_timeout=1.0), Iterator[int])
        assert_type(executor.options(task_timeout=1.0).submit(square, 2), mf.Future[int])
        executor.submit(square, "x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with mf.ThreadPoolExecutor(thread_name_prefix="t") as threads:
        assert_type(threads.submit(square, 1).result(), int)


async def awaiting() -> None:
    with mp.Pool(2) as pool:
        assert_type(await pool.apply_async(square, (3,)), int)
        assert_type(await pool.map_async(square, [1]), list[int])
        async for value in pool.imap(square, [1, 2]):
            assert_type(value, int)
    queue: mproc.queues.Queue[int] = mp.Queue()
    assert_type(await queue.aget(), int)
    await queue.aput(1)
    await queue.aput("x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    simple: mproc.queues.SimpleQueue[str] = mp.SimpleQueue()
    assert_type(await simple.aget(), str)
    lock = mp.Lock()
    assert_type(await lock.aacquire(timeout=1.0), bool)
    async with lock:
        pass
    assert_type(await mp.Event().wait_async(1.0), bool)
    assert_type(await mp.Barrier(1).wait_async(), int)
    parent, _child = mp.Pipe()
    assert_type(await parent.apoll(1.0), bool)
    assert_type(await parent.arecv_bytes(), bytes)
    process = mp.Process(target=square, args=(1,))
    assert_type(await process.ajoin(1.0), None)
