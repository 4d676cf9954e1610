"""The thread backend: ``ThreadPool`` and ``mproc.dummy.Pool``.

Worker threads take tasks from one queue and run them on the objects themselves
(nothing is pickled). Answers are delivered under one lock, so callbacks run one
at a time, as they do with the stdlib's single result-handler thread.

A thread cannot be killed. A task that overruns its ``timeout`` fails with
TaskTimeoutError at once; its thread is *abandoned* (it finishes the call in the
background and then exits, its late result dropped) and a fresh thread takes its
place. ``terminate()`` abandons running tasks the same way, so neither it nor the
``join()`` after it waits for a call that may never return.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time

from ..errors import PoolTerminatedError, StartupError, TaskTimeoutError
from .base import APPLY, MAP, Backend, deliver_safely, describe_exception

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .base import Task

__all__ = ["ThreadBackend"]

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"
_names = itertools.count(1)


def _default_thread_name() -> str:
    return f"ThreadPoolWorker-{next(_names)}"


class _Running:
    """The task a thread is running, and its deadline if it is timed."""

    __slots__ = ("task", "deadline", "item")

    def __init__(self, task: Task) -> None:
        self.task = task
        self.deadline: float | None = None
        self.item = 0


class ThreadBackend(Backend):
    """Tasks run in threads of this process."""

    kind = "threads"
    no_memory_limit = ("its tasks run in threads of this process, whose memory cannot be "
                       "told apart; use a process pool")

    def __init__(self, size: int, initializer: Any, initargs: Any, maxtasksperchild: int | None,
                 context: Any, *, reducers: Any = None) -> None:
        # reducers: nothing is pickled between threads
        super().__init__(size, initializer, initargs, maxtasksperchild, context,
                         reducers=reducers)
        lock = threading.Lock()
        # Two conditions on one lock: idle workers wait on _cond (a submit wakes as
        # many as it brings tasks); join() and the timeout monitor wait on _events
        # (threads leaving, state changes, deadlines). One condition for both let a
        # submit's notify(n) wake the monitor instead of a worker, and the task waited.
        self._cond = threading.Condition(lock)
        self._events = threading.Condition(lock)
        self._queue: collections.deque[Task] = collections.deque()
        self._threads: list[threading.Thread] = []
        self._running: dict[threading.Thread, _Running] = {}
        self._abandoned: set[threading.Thread] = set()
        self._state = RUN
        self._deliver_lock = threading.RLock()
        self._startup_failures = 0
        self._startup_limit = max(3, size + 2)
        self._monitor: threading.Thread | None = None
        # A front end may name its threads (the Executor: the stdlib's names).
        self.thread_name: Callable[[], str] = _default_thread_name

    # -- the Backend API ----------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            for _ in range(self.size):
                self._start_thread()

    @property
    def workers(self) -> list[Any]:
        return self._threads

    def repopulate(self) -> None:
        with self._cond:
            while len(self._threads) < self.size and self._state is RUN and self.broken is None:
                self._start_thread()

    def submit(self, tasks: list[Task]) -> None:
        with self._cond:
            accept = self._state is RUN and self.broken is None
            if accept:
                self._queue.extend(tasks)
                if any(t.timeout is not None for t in tasks):
                    self._ensure_monitor()
                self._cond.notify(len(tasks))
        if not accept:
            for task in tasks:
                self._deliver(task, False, self._refusal(task))

    def close(self) -> None:
        with self._cond:
            if self._state is RUN:
                self._state = CLOSE
                self._wake_everyone()

    def terminate(self) -> None:
        failed: list[Task] = []
        with self._cond:
            if self._state is not TERMINATE:
                self._state = TERMINATE
                failed.extend(self._queue)
                self._queue.clear()
                for thread, running in list(self._running.items()):
                    failed.append(running.task)
                    self._abandon(thread)
                self._wake_everyone()
        for task in failed:
            self._deliver(task, False, self._refusal(task))

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if threading.current_thread() in self._threads:
                raise RuntimeError("a pool cannot be joined from one of its own threads")
            while self._threads:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._events.wait(remaining)
        return True

    def cancel(self, job: Any) -> bool:
        """Drop the job's waiting tasks; abandon the threads running its others (a
        thread cannot be stopped: the call goes on, its answer is dropped, and a new
        thread takes its place)."""
        with self._cond:
            waiting = [task for task in self._queue if task.job is job]
            for task in waiting:
                self._queue.remove(task)
            running = [thread for thread, run in self._running.items() if run.task.job is job]
            for thread in running:
                self._abandon(thread)
                if self._state is not TERMINATE:
                    self._start_thread()
        return bool(waiting or running)

    # -- threads (lock held unless said otherwise) -----------------------------------

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._work, name=self.thread_name(), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _leave(self, thread: threading.Thread) -> None:
        if thread in self._threads:
            self._threads.remove(thread)
        self._events.notify_all()

    def _wake_everyone(self) -> None:
        """A state change: idle workers, join() and the monitor look again (lock held)."""
        self._cond.notify_all()
        self._events.notify_all()

    def _abandon(self, thread: threading.Thread) -> None:
        self._running.pop(thread, None)
        self._abandoned.add(thread)
        self._leave(thread)

    def _work(self) -> None:
        me = threading.current_thread()
        if self.initializer is not None:
            try:
                self.initializer(*self.initargs)
            except BaseException as exc:
                self._init_failed(me, exc)
                return
        done = 0
        with self._cond:
            self._startup_failures = 0
        while True:
            with self._cond:
                while not self._queue and self._state is RUN and me not in self._abandoned:
                    self._cond.wait()
                if me in self._abandoned or self._state is TERMINATE or not self._queue:
                    self._abandoned.discard(me)
                    self._leave(me)
                    return
                task = self._queue.popleft()
                claim = getattr(task.job, "_claim", None)
                if claim is not None and not claim(task.index):
                    continue  # cancelled while it waited
                running = self._running[me] = _Running(task)
            ok, value = self._run(task, running)
            with self._cond:
                abandoned = me in self._abandoned
                self._running.pop(me, None)
            if abandoned:  # timed out or terminated: the answer was given already
                with self._cond:
                    self._abandoned.discard(me)
                return
            self._deliver(task, ok, value)
            del task, running, value  # keep nothing alive while waiting
            done += 1
            if self.maxtasksperchild is not None and done >= self.maxtasksperchild:
                with self._cond:
                    self._leave(me)
                    if self._state is not TERMINATE and (self._state is RUN or self._queue):
                        self._start_thread()
                return

    def _run(self, task: Task, running: _Running) -> tuple[bool, Any]:
        func, mode, payload = task.func, task.mode, task.payload
        task.payload = None
        timed = task.timeout is not None
        try:
            if mode == APPLY:
                args, kwds = payload
                if timed:
                    self._started(running, 0)
                return True, func(*args, **kwds)
            if not timed:
                if mode == MAP:
                    return True, list(map(func, payload))
                return True, [func(*args) for args in payload]
            values = []
            for item, arg in enumerate(payload):
                self._started(running, item)
                values.append(func(arg) if mode == MAP else func(*arg))
            return True, values
        except BaseException as exc:
            return False, exc

    def _started(self, running: _Running, item: int) -> None:
        with self._cond:
            running.item = item
            running.deadline = time.monotonic() + running.task.timeout  # type: ignore[operator]
            self._events.notify_all()

    def _init_failed(self, me: threading.Thread, exc: BaseException) -> None:
        failed: list[Task] = []
        with self._cond:
            self._leave(me)
            self._startup_failures += 1
            if self._startup_failures >= self._startup_limit and self.broken is None:
                error = StartupError(
                    f"the pool's threads keep failing at start-up: {self._startup_failures} "
                    f"in a row; the initializer raised {describe_exception(exc)}")
                error.__cause__ = exc
                self.broken = error
                failed.extend(self._queue)
                self._queue.clear()
                self._wake_everyone()
            elif self._state is not TERMINATE and self.broken is None:
                self._start_thread()
        for task in failed:
            self._deliver(task, False, self._refusal(task))

    # -- timeouts -----------------------------------------------------------------

    def _ensure_monitor(self) -> None:
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._watch, name="mproc-pool-timeouts",
                                             daemon=True)
            self._monitor.start()

    def _watch(self) -> None:
        while True:
            expired: list[tuple[_Running, float]] = []
            with self._cond:
                if self._state is TERMINATE or (self._state is CLOSE and not self._threads):
                    return
                now = time.monotonic()
                deadlines = []
                for thread, running in list(self._running.items()):
                    if running.deadline is None:
                        continue
                    if running.deadline <= now:
                        expired.append((running, now))
                        self._abandon(thread)
                        if self._state is not TERMINATE:
                            self._start_thread()
                    else:
                        deadlines.append(running.deadline)
                if not expired:
                    self._events.wait(min(deadlines) - now if deadlines else None)
            for running, _now in expired:
                task = running.task
                where = f" at item {task.first + running.item}" if task.count > 1 else ""
                error = TaskTimeoutError(
                    f"{task.describe()} ran longer than its timeout of {task.timeout:g} s"
                    f"{where}; a thread cannot be killed: it was abandoned (the call goes on "
                    f"in the background) and a new thread took its place")
                error.timeout, error.task = task.timeout, task.describe()  # type: ignore[attr-defined]
                self._deliver(task, False, error)

    # -- answers -------------------------------------------------------------------

    def _refusal(self, task: Task) -> BaseException:
        if self.broken is not None:
            error = StartupError(*self.broken.args)
            error.__cause__ = self.broken.__cause__
            return error
        return PoolTerminatedError(f"{task.describe()} did not finish: the pool was terminated")

    def _deliver(self, task: Task, ok: bool, value: Any) -> None:
        with self._deliver_lock:  # one answer at a time, as the stdlib's result thread
            deliver_safely(task, ok, value)
