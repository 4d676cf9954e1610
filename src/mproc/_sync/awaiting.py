"""The awaitable twins of the locks' blocking calls (``await lock.aacquire()``).

A semaphore in shared memory has no file descriptor to wait on, so an awaiting
coroutine tries the non-blocking acquire and backs off (``mproc._runtime.aio.poll``:
at most ``POLL_MAX`` between tries), never a thread per waiter. A Lock or RLock
waiter also watches the holder, as the blocking path does, and takes over from a
holder that died. ``async with lock:`` awaits the lock and releases it.
"""

from __future__ import annotations

from .._runtime import aio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import Any

__all__ = ["AsyncAcquire", "lock_step", "take_steps"]


class AsyncAcquire:
    """``aacquire``, ``async with``: mixed into every semaphore-backed primitive."""

    __slots__ = ()

    if TYPE_CHECKING:
        def acquire(self, block: bool = True, timeout: float | None = None) -> bool: ...
        def release(self) -> None: ...

    def _async_attempt(self) -> Callable[[], bool]:
        """A non-blocking try, called until it succeeds (a lock adds recovery)."""
        return lambda: self.acquire(False)

    async def aacquire(self, timeout: float | None = None) -> bool:
        """Await ``acquire()``: True once taken, False if ``timeout`` passed first.

        Cancelling the awaiting task leaves the lock as it was (not taken).
        """
        return await aio.poll(self._async_attempt(), timeout)

    async def __aenter__(self) -> None:
        await self.aacquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()


def lock_step(lock: object) -> aio.Step:
    """The step that takes ``lock`` (blocking, or polled with its recovery)."""
    acquire = lock.acquire  # type: ignore[attr-defined]
    make_attempt = getattr(lock, "_async_attempt", None)
    attempt = make_attempt() if make_attempt is not None else (lambda: acquire(False))
    return (lambda timeout: acquire(True, timeout) if timeout is not None else acquire(),
            attempt, None)


def take_steps(lock: object, timeout: float | None) -> Generator[aio.Step, Any, bool]:
    """The steps that take ``lock`` (within ``timeout``); whether it was taken."""
    step = lock_step(lock)
    return bool((yield (step[0], step[1], timeout)))
