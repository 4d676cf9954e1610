"""Awaiting mproc's objects from asyncio without a thread per waiter.

Three ways to wait, by what the object offers:

* **a file descriptor** that becomes readable (a pipe, a socket, a pidfd, a
  sentinel): ``readable(fds, timeout)`` registers the running loop's reader callback
  (one per loop and fd, shared by every coroutine waiting on it) and removes it
  when the wait ends, cancelled or not;
* **a thread that completes it** (a pool result delivered by the supervisor):
  ``Waiters`` wakes the waiting loops with ``call_soon_threadsafe``;
* **nothing to wait on** (a semaphore in shared memory has no fd): ``poll`` tries
  the non-blocking operation with a backoff from 0.1 ms up to ``POLL_MAX``, so a
  waiter costs at most ``1 / POLL_MAX`` wake-ups a second and answers within it.

Every wait takes its item with a non-blocking call made in one step after the wake-
up, never across an ``await``: a cancelled waiter has taken nothing, so nothing is
lost. Blocking logic written once as a generator of *steps* (``(blocking(timeout),
attempt(), timeout)``) runs both ways: ``run_steps`` blocks, ``arun_steps`` awaits;
an exception (a cancellation) is thrown into the generator so its ``finally``
clauses run their own steps (a Condition re-takes its lock).

asyncio is imported on first use: a program that never awaits never loads it.
"""

from __future__ import annotations

import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Generator, Iterable
    from typing import Any, TypeVar

    T = TypeVar("T")
    # A blocking step: (blocking(timeout) -> value, attempt() -> bool, timeout)
    Step = tuple[Callable[[float | None], Any], Callable[[], bool], float | None]

__all__ = ["readable", "writable", "Waiters", "poll", "run_steps", "arun_steps", "POLL_MAX",
           "awaitable"]

POLL_MIN = 0.0001
POLL_MAX = 0.01  # seconds: the longest a polling waiter sleeps between attempts


def _loop() -> asyncio.AbstractEventLoop:
    import asyncio

    return asyncio.get_running_loop()


# -- file descriptors -----------------------------------------------------------------


class _Watch:
    """The futures of every coroutine of one loop waiting for one fd."""

    __slots__ = ("loop", "fd", "writing", "futures")

    def __init__(self, loop: Any, fd: int, writing: bool) -> None:
        self.loop, self.fd, self.writing = loop, fd, writing
        self.futures: set[Any] = set()
        (loop.add_writer if writing else loop.add_reader)(fd, self.fire)

    def fire(self) -> None:
        for future in self.futures:
            if not future.done():
                future.set_result(self.fd)


_watches: dict[tuple[int, int, bool], _Watch] = {}


async def _wait_fds(fds: Iterable[int], timeout: float | None, writing: bool) -> bool:
    loop = _loop()
    future = loop.create_future()
    keys = [(id(loop), fd, writing) for fd in fds]
    for key in keys:
        watch = _watches.get(key)
        if watch is None or watch.loop is not loop:
            watch = _watches[key] = _Watch(loop, key[1], writing)
        watch.futures.add(future)
    timer = None
    if timeout is not None:
        timer = loop.call_later(max(0.0, timeout), _expire, future)
    try:
        return bool(await future)
    finally:
        if timer is not None:
            timer.cancel()
        for key in keys:
            watch = _watches.get(key)
            if watch is not None:
                watch.futures.discard(future)
                if not watch.futures:
                    del _watches[key]
                    (loop.remove_writer if writing else loop.remove_reader)(key[1])


def _expire(future: Any) -> None:
    if not future.done():
        future.set_result(False)


def readable(fds: Iterable[int], timeout: float | None = None) -> Awaitable[bool]:
    """Wait until one of ``fds`` is readable (True) or ``timeout`` passes (False)."""
    return _wait_fds(fds, timeout, False)


def writable(fds: Iterable[int], timeout: float | None = None) -> Awaitable[bool]:
    """Wait until one of ``fds`` is writable (True) or ``timeout`` passes (False)."""
    return _wait_fds(fds, timeout, True)


# -- completed by another thread -------------------------------------------------------


def _wake(future: Any) -> None:
    if not future.done():
        future.set_result(None)


class Waiters:
    """Loops waiting for an object that another thread completes.

    ``await waiters.wait_until(check)`` returns ``check()``'s value once it is not
    None; the completing thread calls ``wake()`` after changing the object.
    """

    __slots__ = ("_entries", "_lock")

    def __init__(self) -> None:
        self._entries: list[tuple[Any, Any]] = []
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            entries, self._entries = self._entries, []
        for loop, future in entries:
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that loop is closed: nobody waits there any more
                pass

    async def wait_until(self, check: Callable[[], T | None]) -> T:
        while True:
            value = check()
            if value is not None:
                return value
            loop = _loop()
            future = loop.create_future()
            entry = (loop, future)
            with self._lock:
                self._entries.append(entry)
            value = check()  # completed between the first check and the append?
            if value is not None:
                self._discard(entry)
                return value
            try:
                await future
            finally:
                self._discard(entry)

    def _discard(self, entry: tuple[Any, Any]) -> None:
        with self._lock:
            try:
                self._entries.remove(entry)
            except ValueError:
                pass


def awaitable(coroutine_function: Callable[[], Awaitable[T]]) -> Generator[Any, None, T]:
    """What ``__await__`` returns: the generator of a coroutine."""
    return coroutine_function().__await__()  # type: ignore[attr-defined, no-any-return]


# -- nothing to wait on -------------------------------------------------------------------


async def poll(attempt: Callable[[], bool], timeout: float | None = None) -> bool:
    """Call ``attempt()`` until it returns True, backing off; False after ``timeout``."""
    import asyncio

    if attempt():
        return True
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    delay = POLL_MIN
    while True:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            delay = min(delay, remaining)
        await asyncio.sleep(delay)
        if attempt():
            return True
        delay = min(delay * 2, POLL_MAX)


# -- one logic, two drivers -----------------------------------------------------------------


def _advance(steps: Generator[Step, Any, T], value: Any,
             error: BaseException | None) -> tuple[bool, Any]:
    """Resume the steps with the last step's value (or error): (done, result or step)."""
    try:
        return False, steps.throw(error) if error is not None else steps.send(value)
    except StopIteration as stop:
        return True, stop.value


def run_steps(steps: Generator[Step, Any, T]) -> T:
    """Run a generator of blocking steps, blocking."""
    value: Any = None
    error: BaseException | None = None
    while True:
        done, step = _advance(steps, value, error)
        if done:
            return step  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = step[0](step[2])
        except BaseException as exc:
            error = exc


async def arun_steps(steps: Generator[Step, Any, T]) -> T:
    """Run a generator of blocking steps, awaiting (``attempt`` polled)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        done, step = _advance(steps, value, error)
        if done:
            return step  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = await poll(step[1], step[2])
        except BaseException as exc:  # a cancellation: the steps' finally clauses run
            error = exc
