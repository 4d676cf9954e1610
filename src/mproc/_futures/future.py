"""The objects an executor's backend answers: a Future per submit, a job per map.

Both follow the backend seam's contract (``mproc._backends.base``): the backend
calls ``_claim(index)`` just before it sends a task (False: it was cancelled, drop
it) and ``_deliver(index, ok, value, count)`` exactly once per task it ran.

``Future`` is a real ``concurrent.futures.Future`` (``as_completed``, ``wait``,
``asyncio.wrap_future`` and ``loop.run_in_executor`` take it as is). It becomes
RUNNING when its task is sent to a worker, as the stdlib's does when its task
enters the call queue, so ``cancel()`` keeps the stdlib's meaning: it cancels only
a future whose task has not been sent. ``cancel(running=True)`` also stops a task
that runs: its worker is killed and replaced, and the future is cancelled.

``MapJob`` is one ``Executor.map`` call: its chunks' results, kept until the
caller's iterator yields them, in order.
"""

from __future__ import annotations

import concurrent.futures as _cf
import itertools
import threading
import time
from concurrent.futures import _base

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, TypeVar

    from .._pool.progress import Progress
else:
    from .._runtime.generic import TypeVar

_T = TypeVar("_T")

__all__ = ["Future", "MapJob"]

_numbers = itertools.count(1)
_RUNNING = _base.RUNNING
_CANCELLED_STATES = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED)


class Future(_cf.Future[_T]):
    """The result of ``submit``: a ``concurrent.futures.Future`` that can also stop
    a task that runs (``cancel(running=True)``)."""

    _kind = "submit"

    def __init__(self, owner: Any = None) -> None:
        super().__init__()
        self._owner = owner  # the executor's core: backend, error translation
        self._job = next(_numbers)

    def cancel(self, running: bool = False) -> bool:
        """Cancel the future; True if it is cancelled.

        As the stdlib's, this cancels only a future whose task has not started. With
        ``running=True`` (mproc's addition) a task that runs is stopped too: its
        worker process is killed (with every process it started) and replaced, and
        the future is cancelled; a thread executor cannot stop a thread, so its call
        goes on unobserved and its result is dropped. False if the future had
        already finished.
        """
        owner = self._owner
        if super().cancel():
            if owner is not None:
                owner.finished()  # never answered: it no longer keeps a worker busy
            return True
        if not running or owner is None or not owner.stop(self):
            return False
        owner.finished()
        with self._condition:
            if self._state != _RUNNING:
                return self._state in _CANCELLED_STATES
            self._state = _base.CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        self._invoke_callbacks()  # type: ignore[attr-defined]
        return True

    def result(self, timeout: float | None = None) -> _T:
        """The task's value (or raise its exception); a Ctrl-C while waiting stops
        the executor's workers before it propagates."""
        try:
            return super().result(timeout)
        except KeyboardInterrupt:
            self._interrupted()
            raise

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The task's exception, or None; Ctrl-C as for ``result``."""
        try:
            return super().exception(timeout)
        except KeyboardInterrupt:
            self._interrupted()
            raise

    def _interrupted(self) -> None:
        if self._owner is not None:
            self._owner.interrupted()

    # -- the backend's side ------------------------------------------------------

    def _claim(self, index: int) -> bool:
        owner = self._owner
        if owner is not None:
            owner.claimed(self)  # no longer one that shutdown(cancel_futures) cancels
        state = self._state
        if state == _RUNNING:  # sent again after its worker died before starting it
            return True
        if state != _base.PENDING and state != _base.CANCELLED:
            return False  # cancelled and notified, or finished: nothing to run
        return self.set_running_or_notify_cancel()

    def _deliver(self, index: int, ok: bool, value: Any, count: int) -> None:
        try:
            if ok:  # it ran, so it was claimed (and left the waiting set) when sent
                self.set_result(value)
            else:
                self._owner.claimed(self)  # it may have failed before it was sent
                self._owner.failed(value)
                self.set_exception(self._owner.translate(value))
        except _cf.InvalidStateError:  # cancelled meanwhile (and counted then)
            return
        self._owner.finished()


class MapJob:
    """One ``Executor.map``: chunk results, delivered in any order, yielded in order.

    ``closed`` (the caller's iterator ended early, failed or timed out) drops the
    chunks not yet sent, as the stdlib cancels the futures of the rest of a map.
    """

    _kind = "map"

    def __init__(self, owner: Any, progress: Progress | None) -> None:
        self._owner = owner
        self._job = next(_numbers)
        self._progress = progress
        self._cond = threading.Condition(threading.Lock())
        self._answers: dict[int, tuple[bool, Any]] = {}
        self.closed = False

    def _claim(self, index: int) -> bool:
        return not self.closed

    def _deliver(self, index: int, ok: bool, value: Any, count: int) -> None:
        if not ok:
            self._owner.failed(value)
        with self._cond:
            self._answers[index] = (ok, value)
            self._cond.notify_all()
        self._owner.finished()
        if self._progress is not None:
            self._progress.update(count)

    def close(self) -> None:
        self.closed = True
        self._owner.claimed(self)
        if self._progress is not None:
            self._progress.close()

    def cancel(self) -> bool:
        """Shutdown's ``cancel_futures``: drop the chunks not yet sent."""
        self.closed = True
        return True

    def results(self, chunks: int | None, deadline: float | None,
                refill: Callable[[int], int] | None) -> Iterator[Any]:
        """Yield every item, chunk by chunk in order.

        ``chunks`` is how many chunks were submitted (None: ``refill(index)``, called
        before waiting for chunk ``index``, submits more and returns how many there
        are so far).
        """
        answers, cond = self._answers, self._cond
        try:
            for index in itertools.count():
                if chunks is not None and index >= chunks:
                    return
                if refill is not None and index >= refill(index):
                    return
                with cond:
                    while index not in answers:
                        if deadline is None:
                            cond.wait()
                            continue
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise _cf.TimeoutError
                        cond.wait(remaining)
                    ok, value = answers.pop(index)
                if not ok:
                    error = self._owner.translate(value)
                    del value
                    try:
                        raise error
                    finally:
                        del error  # no cycle: this frame <-> the error's traceback
                # Hand each item over and keep no reference to it (the stdlib's
                # map does not either, issue #14406): the caller may drop it.
                items = value if type(value) is list else list(value)
                del value
                items.reverse()
                while items:
                    yield items.pop()
        except KeyboardInterrupt:
            self._owner.interrupted()
            raise
        finally:
            self.close()


def chunked(iterables: tuple[Any, ...], chunksize: int) -> Iterator[list[tuple[Any, ...]]]:
    """The argument tuples of ``map(fn, *iterables)``, ``chunksize`` at a time."""
    arguments = zip(*iterables, strict=False)
    while True:
        chunk = list(itertools.islice(arguments, chunksize))
        if not chunk:
            return
        yield chunk


Future.__module__ = "mproc.futures"
