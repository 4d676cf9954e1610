"""Task batching: cutting inputs into chunks, and feeding lazy inputs in a window.

``map`` and ``starmap`` take their whole input at once (as the stdlib does) and cut
it into chunks of ``chunksize`` items, the unit of work a worker runs and a failure
fails. ``imap`` and ``imap_unordered`` instead pull their input lazily, in a
``Feeder`` thread, within a ``Window``: at most ``limit`` items whose results have
not been yielded yet. So an endless generator works, and a slow consumer holds
back the producer instead of filling memory with results::

    input iterator --Feeder thread--> chunks --backend.submit--> workers
         ^                                                          |
         |  Window: in flight = pulled - yielded <= limit           v
         +----------- consumer's next() frees room <------- result iterator

The default limit is generous (enough to keep every worker busy with tiny tasks);
``buffersize`` (Python 3.15's parameter) sets it. ``close()`` lifts every limit so
``join()`` finishes the work, as the stdlib does; ``terminate()`` stops feeders.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref

from .._backends.base import DEFAULT_POLICY, RunPolicy, Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

__all__ = ["default_chunksize", "cut", "cut_lazily", "Window", "Feeder", "DEFAULT_WINDOW_CHUNKS"]

DEFAULT_WINDOW_CHUNKS = 256  # default window, in chunks, with at least 16 per worker
_BATCH_SECONDS = 0.0005  # a fast input is submitted in batches at most this old
_UNBOUNDED_BATCH = 1024  # items pulled per batch once the limit is lifted


def default_chunksize(length: int, workers: int, fine: bool = False) -> int:
    """The stdlib's default: about four chunks per worker (sixteen with a progress
    bar, so that it moves smoothly); at least one item."""
    if length == 0:
        return 1
    per_worker = 16 if fine else 4
    chunksize, extra = divmod(length, workers * per_worker)
    return max(1, chunksize + (1 if extra else 0))


def cut_lazily(job: Any, func: Callable[..., Any], mode: int, iterable: Any, chunksize: int,
               timeout: float | None, policy: RunPolicy = DEFAULT_POLICY) -> Iterator[Task]:
    """The chunks of ``iterable`` as Tasks, one at a time.

    A list, tuple or range is cut by slicing (a range's slices are ranges: nothing
    to copy, a few bytes to pickle); anything else by iterating.
    """
    if type(iterable) in (list, tuple, range):
        for index, first in enumerate(range(0, len(iterable), chunksize)):
            items = iterable[first:first + chunksize]
            yield Task(job, index, func, mode, items, len(items), first, timeout, policy)
        return
    iterator = iter(iterable)
    first = 0
    for index in itertools.count():
        items = list(itertools.islice(iterator, chunksize))
        if not items:
            return
        yield Task(job, index, func, mode, items, len(items), first, timeout, policy)
        first += len(items)


def cut(job: Any, func: Callable[..., Any], mode: int, iterable: Any, chunksize: int,
        timeout: float | None, policy: RunPolicy = DEFAULT_POLICY) -> tuple[list[Task], int]:
    """All the chunks of ``iterable`` as Tasks, and the number of items."""
    tasks = list(cut_lazily(job, func, mode, iterable, chunksize, timeout, policy))
    return tasks, sum(task.count for task in tasks)


class Window:
    """The bound on a lazy input: items pulled whose results are not yet yielded.

    Its lock is also the result iterator's, so that the consumer accounts for what
    it takes without a second lock (``consumed_locked``).
    """

    def __init__(self, limit: int | None) -> None:
        self.lock: threading.Lock = threading.Lock()
        self._cond = threading.Condition(self.lock)
        self.limit = limit
        self.in_flight: int = 0
        self.stopped: bool = False

    def _low_water(self, limit: int) -> int:
        # Refill when half the window is free: fewer, larger batches.
        return limit - max(1, limit // 2)

    def room(self) -> int | None:
        """Block until items may be pulled; how many (None: stop feeding)."""
        with self._cond:
            while True:
                if self.stopped:
                    return None
                limit = self.limit
                if limit is None:
                    return _UNBOUNDED_BATCH
                if self.in_flight <= self._low_water(limit):
                    return max(1, limit - self.in_flight)
                self._cond.wait()

    def pulled(self, count: int) -> None:
        with self._cond:
            self.in_flight += count

    def consumed_locked(self, count: int) -> None:
        """``count`` items were yielded (the caller holds ``lock``)."""
        before = self.in_flight
        self.in_flight = before - count
        limit = self.limit
        if limit is not None and before > self._low_water(limit) >= self.in_flight:
            self._cond.notify_all()

    def unbound(self) -> None:
        with self._cond:
            self.limit = None
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


class Feeder:
    """Pulls a lazy input chunk by chunk and submits the chunks (one thread).

    The feeder holds its result iterator weakly: when the consumer drops the
    iterator, the window stops and the feeder ends, instead of waiting for ever for
    room that no one will make.
    """

    def __init__(self, job: Any, submit: Callable[[list[Task]], None], func: Callable[..., Any],
                 mode: int, iterator: Iterator[Any], chunksize: int, window: Window,
                 timeout: float | None, on_exit: Callable[[], None],
                 policy: RunPolicy = DEFAULT_POLICY) -> None:
        self._job = weakref.ref(job)
        weakref.finalize(job, window.stop)
        self._submit = submit
        self._func = func
        self._mode = mode
        self._iterator = iterator
        self._chunksize = chunksize
        self._window = window
        self._timeout = timeout
        self._policy = policy
        self._on_exit = on_exit

    def start(self) -> None:
        thread = threading.Thread(target=self._run, name="mproc-pool-feeder", daemon=True)
        thread.start()

    def _run(self) -> None:
        try:
            self._feed()
        finally:
            self._iterator = self._func = self._submit = None  # type: ignore[assignment]
            self._on_exit()

    def _feed(self) -> None:
        window, chunksize = self._window, self._chunksize
        iterator = self._iterator
        index = first = 0
        while True:
            room = window.room()  # no strong reference to the job while waiting
            job = self._job()
            if room is None or job is None:
                return
            batch: list[Task] = []
            pulled = 0
            started = time.monotonic()
            eager = True  # the first chunk after a wait goes alone, at once
            while pulled < room:
                try:
                    items = list(itertools.islice(iterator, chunksize))
                except Exception as exc:
                    self._flush(batch, pulled)
                    job._input_failed(index, exc)
                    return
                if not items:
                    self._flush(batch, pulled)
                    job._set_length(index, first)
                    return
                batch.append(Task(job, index, self._func, self._mode, items, len(items),
                                  first, self._timeout, self._policy))
                index += 1
                first += len(items)
                pulled += len(items)
                # The first chunk goes at once (a slow input must not hold it back);
                # later ones wait a little to travel together.
                if eager or time.monotonic() - started > _BATCH_SECONDS:
                    self._flush(batch, pulled)
                    batch, pulled, room = [], 0, room - pulled
                    started = time.monotonic()
                    eager = False
                    if window.stopped:
                        return
            self._flush(batch, pulled)
            del job, batch

    def _flush(self, batch: list[Task], pulled: int) -> None:
        if batch:
            self._window.pulled(pulled)
            self._submit(batch)
