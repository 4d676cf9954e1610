"""The awaitable twins of the queues' blocking calls: ``aget``, ``aput``, ``ajoin``.

``aget`` waits for the queue's pipes to become readable with the running loop's
reader callbacks (``mproc._runtime.aio``), then takes an item with the non-blocking
``get``: nothing is taken across an ``await``, so a cancelled ``aget`` leaves every
item in the queue, even one that arrived as it was cancelled. ``aput`` encodes the
item once, then awaits a slot of a bounded queue (a semaphore: polled); ``ajoin``
awaits the JoinableQueue's condition.
"""

from __future__ import annotations

import time
from queue import Empty, Full

from .._runtime import aio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["AsyncQueue", "AsyncJoinableQueue", "AsyncSimpleQueue"]


async def _get(queue: Any, timeout: float | None) -> Any:
    deadline = None if timeout is None else time.monotonic() + timeout
    pipes = queue._pipes
    while True:
        try:
            return queue._get_nowait_item()
        except Empty:
            pass
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise Empty
        await aio.readable((pipes.main_r, pipes.over_r), remaining)


class AsyncQueue:
    """``aget``/``aput`` for Queue (mixed in)."""

    __slots__ = ()

    def _get_nowait_item(self) -> Any:
        return self.get(False)  # type: ignore[attr-defined]

    async def aget(self, timeout: float | None = None) -> Any:
        """Await ``get()``: the next item; ``queue.Empty`` after ``timeout`` seconds.

        Cancelling the awaiting task takes nothing from the queue.
        """
        return await _get(self, timeout)

    async def aput(self, obj: Any, timeout: float | None = None) -> None:
        """Await ``put(obj)``: wait for room in a bounded queue (``queue.Full`` after
        ``timeout`` seconds). Pickling errors are raised here, as ``put`` raises them;
        a cancelled ``aput`` has put nothing."""
        queue: Any = self
        packet = queue._encoded(obj)
        if packet is None:
            return
        try:
            if not await aio.poll(lambda: queue._sem_acquire(False, None), timeout):
                raise Full
        except BaseException:
            queue._discard(packet)
            raise
        queue._commit(packet)


class AsyncJoinableQueue(AsyncQueue):
    """``ajoin`` for JoinableQueue (mixed in)."""

    __slots__ = ()

    async def ajoin(self) -> None:
        """Await ``join()``: until every item put has been marked done."""
        queue: Any = self
        async with queue._cond:
            await queue._cond.wait_for_async(queue._unfinished_tasks._semlock._is_zero)


class AsyncSimpleQueue:
    """``aget``/``aput`` for SimpleQueue (mixed in)."""

    __slots__ = ()

    async def aget(self) -> Any:
        """Await ``get()``; a cancelled ``aget`` takes nothing from the queue."""
        return await _get(self, None)

    async def aput(self, obj: Any) -> None:
        """``put(obj)`` (a SimpleQueue is unbounded: it never waits for room)."""
        self.put(obj)  # type: ignore[attr-defined]
