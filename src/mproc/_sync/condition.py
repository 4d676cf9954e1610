"""Condition and Event, shared between processes.

A Condition is its lock, a shared count of sleepers (changed under the lock) and
two semaphores: sleepers wait on the *wait* semaphore, and post the *handshake*
semaphore as soon as they stop waiting on it, whether a post woke them or their
timeout ran out. The handshake needs no lock, so it never waits for the notifier.

``notify(n)`` (lock held) first takes off the sleepers that left on their own
since the last notify (one handshake each). Then it posts the wait semaphore once
per sleeper it picks and, still holding the lock, collects one handshake per post.
That is what keeps a notify for the sleepers of *now*: a newcomer needs the lock to
start waiting, so it cannot take a post meant for an earlier sleeper (otherwise,
for instance, a barrier's last arriver could re-enter and swallow the wake-up of
the others). A sleeper whose timeout ran out just as it was picked leaves its post
behind: the notifier takes such posts back and offers them to the sleepers still
waiting, so ``notify(n)`` wakes ``n`` of them when there are ``n``, as
``threading.Condition`` does, and no stale post is left to wake a later sleeper
for nothing. If a handshake does not come within ``HANDSHAKE_WAIT`` seconds (a
sleeper stopped or killed while waiting) the notifier stops collecting and leaves
the posts in place rather than hang; the stdlib would block for ever there.

An Event is a Condition over a Lock plus a shared flag: ``set`` raises the flag and
notifies everyone, ``wait`` returns at once if the flag is up, else waits once and
returns True if it was notified (as ``threading.Event`` does) or finds the flag up.
"""

from __future__ import annotations

import sys
from time import monotonic

from .._runtime import aio
from .._serialize.spawning import assert_spawning
from .awaiting import lock_step, take_steps
from .cells import Cells
from .locks import Lock, RLock, Semaphore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = ["Condition", "Event"]

HANDSHAKE_WAIT = 1.0


class _CounterView:
    """A read-only view of one shared counter, with a Semaphore-like get_value()."""

    def __init__(self, cells: Cells, index: int) -> None:
        self._cells = cells
        self._index = index

    def get_value(self) -> int:
        return self._cells[self._index]


class Condition:
    """A condition variable shared between processes (default lock: an RLock)."""

    acquire: Callable[..., bool]  # the lock's own methods
    release: Callable[[], None]

    def __init__(self, lock: Any = None, *, ctx: Any = None) -> None:
        self._lock = lock if lock is not None else RLock(ctx=ctx)
        self._wait_semaphore = Semaphore(0, ctx=ctx)
        self._woken_count = Semaphore(0, ctx=ctx)  # the handshake
        self._waiting = Cells(1)  # sleepers not yet accounted for
        self._make_methods()

    def _make_methods(self) -> None:
        lock = self._lock
        self.acquire = lock.acquire
        self.release = lock.release
        self._is_owned: Callable[[], bool] = getattr(lock, "_is_owned", lambda: True)
        self._release_save: Callable[[], Any] = getattr(lock, "_release_save", lock.release)
        restore = getattr(lock, "_acquire_restore", None)
        self._acquire_restore: Callable[[Any], object] = (
            restore if restore is not None else (lambda _state: lock.acquire())
        )
        # The stdlib's names: sleepers still inside = sleeping - woken.
        self._sleeping_count = _CounterView(self._waiting, 0)

    def __getstate__(self) -> tuple[Any, Semaphore, Semaphore, Cells]:
        assert_spawning(self)
        return (self._lock, self._wait_semaphore, self._woken_count, self._waiting)

    def __setstate__(self, state: tuple[Any, Semaphore, Semaphore, Cells]) -> None:
        self._lock, self._wait_semaphore, self._woken_count, self._waiting = state
        self._make_methods()

    def __enter__(self) -> bool:
        return self._lock.__enter__()  # type: ignore[no-any-return]

    def __exit__(self, *args: object) -> None:
        self._lock.__exit__(*args)

    def __repr__(self) -> str:
        try:
            sleepers: object = self._waiting[0] - self._woken_count.get_value()
        except Exception:
            sleepers = "unknown"
        return f"<{type(self).__name__}({self._lock!r}, {sleepers})>"

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, sleep until notified or ``timeout``, re-take the lock."""
        return aio.run_steps(self._wait_steps(timeout))

    async def wait_async(self, timeout: float | None = None) -> bool:
        """Await ``wait()`` (hold the lock: ``async with cond:``). A cancelled waiter
        re-takes the lock before the cancellation reaches it, as ``wait`` would."""
        return await aio.arun_steps(self._wait_steps(timeout))

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> T:
        """Wait until ``predicate()`` is true (or ``timeout``); return its last value."""
        return aio.run_steps(self._wait_for_steps(predicate, timeout))

    async def wait_for_async(self, predicate: Callable[[], T],
                             timeout: float | None = None) -> T:
        """Await ``wait_for(predicate, timeout)``."""
        return await aio.arun_steps(self._wait_for_steps(predicate, timeout))

    async def aacquire(self, timeout: float | None = None) -> bool:
        """Await the condition's lock (as ``acquire``)."""
        return await aio.arun_steps(take_steps(self._lock, timeout))

    async def __aenter__(self) -> None:
        await self.aacquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    # The logic of the waits, once, as steps that block or are awaited (aio).

    def _wait_steps(self, timeout: float | None) -> Generator[aio.Step, Any, bool]:
        if not self._is_owned():
            raise AssertionError("must acquire() condition before using wait()")
        self._waiting[0] += 1
        state = self._release_save()
        notified = False
        sleepers = self._wait_semaphore
        try:
            notified = yield (lambda t: sleepers.acquire(True, t),
                              lambda: sleepers.acquire(False), timeout)
        finally:
            self._woken_count.release()
            yield self._restore_step(state)
        return bool(notified)

    def _restore_step(self, state: Any) -> aio.Step:
        """Re-take the lock as it was held (an RLock: at its depth)."""
        lock = self._lock
        take = lock_step(lock)[1]
        levels = state if isinstance(state, int) and not isinstance(state, bool) else 1

        def attempt() -> bool:
            if not take():
                return False
            for _level in range(levels - 1):
                lock.acquire()
            return True

        return (lambda _timeout: self._acquire_restore(state), attempt, None)

    def _wait_for_steps(self, predicate: Callable[[], T],
                        timeout: float | None) -> Generator[aio.Step, Any, T]:
        result = predicate()
        if result:
            return result
        deadline = None if timeout is None else monotonic() + timeout
        remaining = timeout
        while not result:
            if deadline is not None:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    break
            yield from self._wait_steps(remaining)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` of the processes/threads waiting on this condition."""
        if not self._is_owned():
            raise AssertionError("lock is not owned")
        waiting, handshake, sleepers = self._waiting, self._woken_count, self._wait_semaphore
        while handshake.acquire(False):  # left on their own (timeouts) since last time
            waiting[0] -= 1
        wanted = n
        while wanted > 0 and waiting[0] > 0:
            picked = min(wanted, waiting[0])
            for _ in range(picked):
                sleepers.release()
            for _ in range(picked):
                if not handshake.acquire(True, HANDSHAKE_WAIT):
                    return  # a sleeper is stopped or dead: leave its post in place
                waiting[0] -= 1
            wanted = 0  # posts left behind by sleepers that timed out meanwhile
            while sleepers.acquire(False):
                wanted += 1

    def notify_all(self) -> None:
        """Wake every process and thread waiting on the condition (hold its lock)."""
        self.notify(sys.maxsize)

    notifyAll = notify_all  # noqa: N815 - threading's old name


class Event:
    """A flag that processes can set, clear and wait for."""

    def __init__(self, *, ctx: Any = None) -> None:
        self._cond = Condition(Lock(ctx=ctx), ctx=ctx)
        self._flag = Cells(1)
        self._bind()

    def _bind(self) -> None:
        self._flag_view = self._flag.view
        self._flag_index = self._flag.index

    def __getstate__(self) -> tuple[Condition, Cells]:
        assert_spawning(self)
        return (self._cond, self._flag)

    def __setstate__(self, state: tuple[Condition, Cells]) -> None:
        self._cond, self._flag = state
        self._bind()

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._flag_view[self._flag_index] != 0

    isSet = is_set  # noqa: N815 - threading's old name

    def set(self) -> None:
        """Set the flag and wake every waiter; later ``wait()`` calls return at once."""
        with self._cond:
            self._flag_view[self._flag_index] = 1
            self._cond.notify_all()

    def clear(self) -> None:
        """Reset the flag: ``wait()`` blocks again until the next ``set()``."""
        with self._cond:
            self._flag_view[self._flag_index] = 0

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set (True) or ``timeout`` passes (False)."""
        with self._cond:
            if self._flag_view[self._flag_index]:
                return True
            notified = self._cond.wait(timeout)
            return notified or self._flag_view[self._flag_index] != 0

    async def wait_async(self, timeout: float | None = None) -> bool:
        """Await ``wait()``: True once the flag is set, False after ``timeout``.
        (Named so because ``await`` is a keyword: ``await event.wait_async()``.)"""
        if self.is_set():
            return True
        return await aio.arun_steps(self._wait_steps(timeout))

    def _wait_steps(self, timeout: float | None) -> Generator[aio.Step, Any, bool]:
        cond = self._cond
        yield from take_steps(cond._lock, None)
        try:
            if self._flag_view[self._flag_index]:
                return True
            notified = yield from cond._wait_steps(timeout)
            return notified or self._flag_view[self._flag_index] != 0
        finally:
            cond.release()


    def __repr__(self) -> str:
        state = "set" if self.is_set() else "unset"
        return f"<{type(self).__qualname__} at {id(self):#x} {state}>"
