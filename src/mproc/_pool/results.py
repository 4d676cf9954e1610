"""What the Pool's calls return: result objects that the backend fills in.

Every task is answered exactly once through ``_deliver(index, ok, value, count)``
(``index`` is the task's chunk number, ``count`` its number of items), from
whatever thread the backend uses. The stdlib's guarantees hold: callbacks run
before the result becomes ready, and a map fails as soon as one chunk fails.

Waiting is interruptible: a Ctrl-C while a caller waits in ``get``, ``wait`` or
``next`` terminates the pool (every worker gone) before the KeyboardInterrupt
propagates, so an interrupted program never leaves workers running its tasks.
"""

from __future__ import annotations

import collections
import itertools
import sys
import threading
import time
import types

from .._runtime import aio
from ..errors import TimeoutError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import Any, Generic, TypeVar

    from .progress import Progress
    from .tasks import Window
else:
    from .._runtime.generic import Generic, TypeVar

__all__ = ["ApplyResult", "AsyncResult", "MapResult", "IMapIterator", "IMapUnorderedIterator"]

_T = TypeVar("_T")

job_counter = itertools.count()


def _run_callback(callback: Callable[[Any], object], value: Any, result: Any) -> None:
    try:
        callback(value)
    except Exception:
        import traceback

        sys.stderr.write(f"Exception in callback {callback!r} of {result!r}:\n")
        traceback.print_exc()


class _Job:
    """What every result shares: its pool, job number, progress.

    A result keeps its pool alive, as in the stdlib, so ``Pool(2).imap(f, xs)``
    works although nothing else holds the pool; the pool holds no result.
    """

    _kind = "task"

    def __init__(self, pool: Any, progress: Progress | None = None) -> None:
        self._pool = pool
        self._job = next(job_counter)
        self._progress = progress

    def _interrupted(self) -> None:
        """Ctrl-C while waiting: stop the pool, so no worker outlives the program."""
        if self._pool is not None:
            self._pool._interrupted()


class ApplyResult(_Job, Generic[_T]):
    """The result of ``apply_async`` (and the base of ``MapResult``): a ``_T`` to come.

    ``get(timeout)`` returns the value or raises the task's exception (or
    ``mproc.TimeoutError`` if it is not ready in time); ``wait``, ``ready`` and
    ``successful`` inspect it without raising the task's exception.
    """

    if not TYPE_CHECKING:
        __class_getitem__ = classmethod(types.GenericAlias)

    _kind = "apply_async"

    def __init__(self, pool: Any = None, callback: Callable[[_T], object] | None = None,
                 error_callback: Callable[[BaseException], object] | None = None,
                 progress: Progress | None = None) -> None:
        super().__init__(pool, progress)
        self._done = threading.Lock()
        self._done.acquire()
        self._ready = False
        self._callback = callback
        self._error_callback = error_callback
        self._success: bool | None = None
        self._value: Any = None

    def ready(self) -> bool:
        """Whether the call has completed (and its callback has run)."""
        return self._ready

    def successful(self) -> bool:
        """Whether the call completed without raising; ValueError if not ready."""
        if not self._ready:
            raise ValueError(f"{self!r} not ready")
        return bool(self._success)

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the result is ready or ``timeout`` seconds have passed."""
        if self._ready:
            return
        try:
            if timeout is None:
                got = self._done.acquire()
            else:
                got = self._done.acquire(timeout=min(max(0.0, timeout), threading.TIMEOUT_MAX))
        except KeyboardInterrupt:
            self._interrupted()
            raise
        if got:
            self._done.release()

    def get(self, timeout: float | None = None) -> _T:
        """Wait for the result and return it, or raise the task's exception.

        Args:
            timeout: the longest to wait, in seconds (None: as long as it takes). It
                only stops the waiting: the task goes on running.

        Raises:
            mproc.TimeoutError: the result was not ready within ``timeout``.
            Exception: whatever the task raised, with the worker's traceback as its
                ``__cause__`` (a ``mproc.pool.RemoteTraceback``); among mproc's own:
                ``mproc.errors.TaskTimeoutError`` (the task's per-task ``timeout=``
                expired), ``mproc.errors.WorkerLostError`` (its worker died),
                ``mproc.errors.PoolTerminatedError`` (the pool was terminated first),
                ``mproc.pool.MaybeEncodingError`` (the result could not be pickled).
        """
        self.wait(timeout)
        if not self._ready:
            raise TimeoutError
        if self._success:
            return self._value
        raise self._value

    def _deliver(self, index: int, ok: bool, value: Any, count: int) -> None:
        if self._ready or self._success is not None:
            return
        self._success = ok
        self._value = value
        self._finish()

    def _finish(self) -> None:
        callback = self._callback if self._success else self._error_callback
        self._callback = self._error_callback = None
        if callback is not None:
            _run_callback(callback, self._value, self)
        if self._progress is not None:
            self._progress.close()
        self._ready = True
        self._done.release()
        waiters = self._waiters
        if waiters is not None:
            waiters.wake()

    # -- asyncio: ``await result`` (the loop is woken by the delivering thread) -------

    _waiters: aio.Waiters | None = None

    def __await__(self) -> Generator[Any, None, _T]:
        """``await pool.apply_async(f, args)``: the value, or raise the task's
        exception, without blocking the loop or using a thread per waiter.
        Cancelling the awaiting task does not cancel the pool's task."""
        return aio.awaitable(self._await)

    async def _await(self) -> _T:
        if not self._ready:
            waiters = self.__dict__.setdefault("_waiters", aio.Waiters())
            await waiters.wait_until(lambda: True if self._ready else None)
        return self.get(0)

    def __repr__(self) -> str:
        state = "pending" if not self._ready else ("ok" if self._success else "failed")
        return f"<{type(self).__module__}.{type(self).__qualname__} #{self._job} {state}>"


AsyncResult = ApplyResult


class MapResult(ApplyResult[list[_T]]):
    """The result of ``map_async`` / ``starmap_async``: a ``list[_T]``, filled chunk by chunk."""

    _kind = "map_async"

    def __init__(self, pool: Any, chunksize: int, length: int,
                 callback: Callable[[list[_T]], object] | None = None,
                 error_callback: Callable[[BaseException], object] | None = None,
                 progress: Progress | None = None, kind: str = "map_async") -> None:
        super().__init__(pool, callback, error_callback, progress)
        self._kind = kind
        self._lock = threading.Lock()
        self._chunksize = chunksize
        self._value = [None] * length
        self._number_left = -(-length // chunksize) if length else 0
        if self._number_left == 0:
            self._success = True
            self._finish()

    def _resize(self, length: int, chunks: int) -> None:
        """The input's ``len()`` was wrong: use what iteration actually produced."""
        with self._lock:
            self._value = [None] * length
            self._number_left = chunks
        if chunks == 0 and self._success is None:
            self._success = True
            self._finish()

    def _deliver(self, index: int, ok: bool, value: Any, count: int) -> None:
        if self._progress is not None:
            self._progress.update(count)
        with self._lock:
            if self._success is not None:
                return  # already failed (or, never, finished twice)
            if ok:
                start = index * self._chunksize
                self._value[start:start + len(value)] = value
                self._number_left -= 1
                if self._number_left:
                    return
                self._success = True
            else:
                self._success = False
                self._value = value
        self._finish()


class _Iterator(_Job, Generic[_T]):
    """Shared machinery of the two imap iterators."""

    if not TYPE_CHECKING:
        __class_getitem__ = classmethod(types.GenericAlias)

    def __init__(self, pool: Any, window: Window | None = None,
                 progress: Progress | None = None) -> None:
        super().__init__(pool, progress)
        self._cond = threading.Condition(window.lock if window is not None else threading.Lock())
        self._buffer: collections.deque[Any] = collections.deque()
        self._length: int | None = None  # number of chunks, once the input is exhausted
        self._delivered = 0
        self._window = window
        self._aborted: BaseException | None = None

    def __iter__(self) -> _Iterator[_T]:
        """The iterator itself."""
        return self

    def next(self, timeout: float | None = None) -> _T:
        """The next result (``next(it)`` waits as long as it takes).

        Raises:
            mproc.TimeoutError: no result came within ``timeout`` seconds; call again
                to keep waiting.
            StopIteration: every result has been returned.
            Exception: what the task for this item raised, as for ``ApplyResult.get``.
        """
        try:
            return self._next(timeout)
        except KeyboardInterrupt:
            self._interrupted()
            raise

    __next__ = next

    def __aiter__(self) -> _Iterator[_T]:
        """``async for value in pool.imap(f, xs)``: the loop is woken as results come."""
        return self

    async def __anext__(self) -> _T:
        waiters = self.__dict__.setdefault("_waiters", aio.Waiters())
        return (await waiters.wait_until(self._next_now))[0]  # type: ignore[no-any-return]

    _waiters: aio.Waiters | None = None

    def _next_now(self) -> tuple[Any] | None:
        """For ``__anext__``: the next result, if there is one now (else None)."""
        try:
            return (self._next(0),)
        except TimeoutError:
            return None
        except StopIteration:
            raise StopAsyncIteration from None

    def _wake_loops(self) -> None:
        waiters = self._waiters
        if waiters is not None:
            waiters.wake()

    def _next(self, timeout: float | None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._buffer:
                    return self._buffer.popleft()
                entry = self._take()
                if entry is not None:
                    ok, value, count = entry
                    if self._window is not None and count:
                        self._window.consumed_locked(count)
                    if ok:
                        self._buffer.extend(value)
                        continue
                    raise value
                if self._exhausted():
                    raise StopIteration
                if self._aborted is not None:
                    raise type(self._aborted)(*self._aborted.args)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None:
                    if remaining <= 0:
                        raise TimeoutError
                    remaining = min(remaining, threading.TIMEOUT_MAX)
                self._cond.wait(remaining)

    def _take(self) -> tuple[bool, Any, int] | None:
        raise NotImplementedError

    def _exhausted(self) -> bool:
        raise NotImplementedError

    def _store(self, index: int, entry: tuple[bool, Any, int]) -> None:
        raise NotImplementedError

    def _deliver(self, index: int, ok: bool, value: Any, count: int) -> None:
        with self._cond:
            self._store(index, (ok, value, count))
            self._delivered += 1
            finished = self._length is not None and self._delivered >= self._length
            self._cond.notify()
        self._wake_loops()
        progress = self._progress
        if progress is not None:
            progress.update(count)
            if finished:
                progress.close()

    def _set_length(self, chunks: int, items: int | None = None) -> None:
        """The input is exhausted after ``chunks`` chunks (``items`` items)."""
        with self._cond:
            self._length = chunks
            finished = self._delivered >= chunks
            self._cond.notify_all()
        self._wake_loops()
        if self._progress is not None:
            if items is not None:
                self._progress.set_total(items)
            if finished:
                self._progress.close()

    def _input_failed(self, index: int, exc: BaseException) -> None:
        """Iterating the input raised: that becomes the result at ``index``, the last."""
        with self._cond:
            self._store(index, (False, exc, 0))
            self._delivered += 1
            self._length = index + 1
            self._cond.notify_all()
        self._wake_loops()
        if self._progress is not None:
            self._progress.close()

    def _abort(self, exc: BaseException) -> None:
        """The pool is gone: once the delivered results are used up, raise ``exc``
        instead of waiting for chunks that the feeder will never submit."""
        with self._cond:
            self._aborted = exc
            self._cond.notify_all()
        self._wake_loops()
        if self._progress is not None:
            self._progress.close()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} #{self._job}>"


class IMapIterator(_Iterator[_T]):
    """The iterator ``imap`` returns: results in input order, as they become available.

    ``for value in pool.imap(f, xs): ...``; ``it.next(timeout)`` waits at most
    ``timeout`` seconds. A failed item raises its exception when its turn comes; the
    iteration can go on after it.
    """

    _kind = "imap"

    def __init__(self, pool: Any, window: Window | None = None,
                 progress: Progress | None = None) -> None:
        super().__init__(pool, window, progress)
        self._chunks: dict[int, tuple[bool, Any, int]] = {}
        self._next_index = 0

    def _take(self) -> tuple[bool, Any, int] | None:
        entry = self._chunks.pop(self._next_index, None)
        if entry is not None:
            self._next_index += 1
        return entry

    def _exhausted(self) -> bool:
        return self._length is not None and self._next_index >= self._length

    def _store(self, index: int, entry: tuple[bool, Any, int]) -> None:
        self._chunks[index] = entry


class IMapUnorderedIterator(_Iterator[_T]):
    """The iterator ``imap_unordered`` returns: results in the order they complete.

    As ``IMapIterator``, except for the order.
    """

    _kind = "imap_unordered"

    def __init__(self, pool: Any, window: Window | None = None,
                 progress: Progress | None = None) -> None:
        super().__init__(pool, window, progress)
        self._completed: collections.deque[tuple[bool, Any, int]] = collections.deque()
        self._yielded = 0

    def _take(self) -> tuple[bool, Any, int] | None:
        if self._completed:
            self._yielded += 1
            return self._completed.popleft()
        return None

    def _exhausted(self) -> bool:
        return self._length is not None and self._yielded >= self._length

    def _store(self, index: int, entry: tuple[bool, Any, int]) -> None:
        self._completed.append(entry)
