"""ProcessPoolExecutor and ThreadPoolExecutor on mproc's pool backends.

Data flow::

    executor.submit(fn, *args, **kwargs)          executor.map(fn, *iterables)
      Future (a concurrent.futures.Future)          MapJob; input cut into chunks
      Task(future, APPLY, (args, kwargs))           Task(job, STARMAP, chunk), all at
              \\                                     once, or buffersize ahead
               +----> backend.submit([Task, ...]) <--+
                                |
          processes | threads (mproc._backends), started at the first submit
                                |
          before sending: job._claim(index) -> Future RUNNING (False: cancelled)
          answer:  job._deliver(index, ok, value) -> set_result / set_exception,
                   mproc's errors turned into BrokenProcessPool twins (errors)
          future.cancel(running=True) -> backend.cancel(future): worker killed

What the executor gains from the Pool's backends: a dead worker fails only the
future it held (``WorkerLostError``, also a ``BrokenProcessPool``) and is replaced;
``task_timeout`` kills a task's processes past its deadline (``TaskTimeoutError``);
lambdas, closures and ``__main__`` functions run under every start method.

The executor object holds a ``_Core`` (the backend and its state); futures and the
finalizer hold the core, never the executor, so an executor dropped without
``shutdown()`` still finishes its futures, as the stdlib's does.
"""

from __future__ import annotations

import concurrent.futures as _cf
import itertools
import os
import threading
import time
import weakref

from .._backends import base as _base
from .._backends.base import APPLY, STARMAP, Task
from .._pool.cpus import usable_cpu_count
from .._pool.progress import make_progress
from .._runtime.finalize import Finalize
from .._runtime.state import STATE
from ..errors import RemoteTraceback as _RemoteTraceback
from . import errors as _errors
from .future import Future, MapJob, chunked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any, ParamSpec, TypeVar

    from .._pool.progress import ProgressArg

    _T = TypeVar("_T")
    _P = ParamSpec("_P")
    _E = TypeVar("_E", bound="_PoolExecutor")

__all__ = ["ProcessPoolExecutor", "ThreadPoolExecutor"]

_UNSET: Any = object()
_thread_executors = itertools.count()

# As the stdlib's executors: once the interpreter starts to exit (threading's exit
# hooks run before atexit's), submit() refuses new work.
_shutting_down = False


def _python_exit() -> None:
    global _shutting_down
    _shutting_down = True


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]


def _run_initializer(initializer: Callable[..., object], initargs: tuple[Any, ...]) -> None:
    """The user's initializer, its failure logged as the stdlib's workers log it."""
    try:
        initializer(*initargs)
    except BaseException:
        _cf._base.LOGGER.critical("Exception in initializer:", exc_info=True)
        raise


def _positive_seconds(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, not {value!r}")
    return float(value)


class _Core:
    """An executor's backend and state, shared by its futures and its finalizer."""

    def __init__(self, kind: str, make_backend: Callable[[], _base.Backend],
                 max_workers: int, on_demand: bool) -> None:
        self.kind = kind
        self.lock = threading.RLock()
        self.make_backend: Callable[[], _base.Backend] | None = make_backend
        self.backend: _base.Backend | None = None
        self.shutdown = False
        # Futures and maps with tasks not yet sent (for shutdown's cancel_futures);
        # weak: the backend's queue holds what waits, and a map whose iterator is
        # dropped unread must not stay in a cycle with this core.
        self.waiting: weakref.WeakSet[Any] = weakref.WeakSet()
        # Workers started on demand, as the stdlib's: one more only when every one
        # there is busy, up to max_workers (then no more counting).
        self.max_workers = max_workers
        self.on_demand = on_demand
        self.submitted = 0  # tasks submitted (under the lock)
        self._finished = itertools.count()  # tasks answered or cancelled (atomic next)
        self.done = 0
        self.submitter: int | None = None  # the thread inside backend.submit()

    def finished(self) -> None:
        """A task was answered or cancelled (any thread). A task that fails while it
        is submitted (its arguments cannot be pickled) did not free a worker: as in
        the stdlib, where only a worker's answer marks a worker idle, it is not
        counted."""
        if self.on_demand and self.submitter != threading.get_ident():
            self.done = next(self._finished) + 1

    @staticmethod
    def failed(exc: BaseException) -> None:
        """A task failed with ``exc`` (any thread): if it was raised here in the
        parent, its traceback becomes text (a worker's arrives as text already)."""
        _detach_traceback(exc)

    def submit(self, backend: _base.Backend, tasks: list[Task]) -> None:
        """Hand ``tasks`` to the backend; first, when workers start on demand, start
        one for each task that would find none idle (lock held)."""
        if self.on_demand:
            self.submitted += len(tasks)
            busy = self.submitted - self.done
            if busy > backend.size:
                backend.size = min(self.max_workers, busy)
                backend.repopulate()
            if backend.size >= self.max_workers:
                self.on_demand = False
        self.submitter = threading.get_ident()
        try:
            backend.submit(tasks)
        finally:
            self.submitter = None

    def running(self) -> _base.Backend:
        """The backend, started on first use (lock held by the caller)."""
        if self.shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if _shutting_down:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        backend = self.backend
        if backend is None:
            assert self.make_backend is not None
            backend = self.make_backend()
            if self.on_demand:
                backend.size = 0  # submit() starts them as tasks come
            backend.start()
            self.backend, self.make_backend = backend, None
        if backend.broken is not None:
            raise self.translate(backend.broken)
        return backend

    def translate(self, exc: BaseException) -> BaseException:
        return _errors.translate(exc, self.kind)

    def stop(self, job: Any) -> bool:
        backend = self.backend
        return backend is not None and backend.cancel(job)

    def claimed(self, job: Any) -> None:
        self.waiting.discard(job)

    def cancel_waiting(self) -> None:
        for job in list(self.waiting):
            job.cancel()
        self.waiting.clear()

    def interrupted(self) -> None:
        """Ctrl-C while waiting on a future: stop every worker now."""
        self.shutdown = True
        backend = self.backend
        if backend is not None:
            backend.terminate()

    def close(self, wait: bool) -> None:
        with self.lock:
            self.shutdown = True
            backend = self.backend
            self.make_backend = None
        if backend is not None:
            backend.close()
            if wait:
                backend.join()


def _detach_traceback(exc: BaseException) -> None:
    """Turn the tracebacks of ``exc`` (and of its causes) into text, as the stdlib's
    executor does for an error raised in its parent: the text becomes the ``__cause__``
    (a RemoteTraceback) of the first exception in the chain. A live traceback's
    frames hold the task, so the future that holds ``exc``, and the backend with its
    supervisor thread: a cycle that only the garbage collector would free."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and all(link is not seen for seen in chain):
        chain.append(link)
        link = link.__cause__ or link.__context__
    if all(link.__traceback__ is None for link in chain):
        return  # a worker's exception: its traceback came as text, nothing is held
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for link in chain:
        link.__traceback__ = None
    if not isinstance(chain[-1], _RemoteTraceback):
        chain[-1].__cause__ = _RemoteTraceback(text.rstrip("\n"))


def _finalize(core: _Core) -> None:
    """The executor was dropped, or the interpreter exits: finish the futures."""
    core.close(wait=True)


class _PoolExecutor(_cf.Executor):
    """What both executors share: submit, map, shutdown, on one backend."""

    _backend_kind = ""

    def __init__(self, max_workers: int, initializer: Callable[..., object] | None,
                 initargs: tuple[Any, ...], max_tasks_per_child: int | None, context: Any,
                 task_timeout: float | None, on_demand: bool, kind: str | None = None,
                 options: dict[str, Any] | None = None) -> None:
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max_workers = max_workers
        self._task_timeout = _positive_seconds(task_timeout, "task_timeout")
        kind = kind or self._backend_kind
        if initializer is not None:
            initializer, initargs = _run_initializer, (initializer, initargs)
        extra = options or {}

        def make_backend() -> _base.Backend:
            backend = _base.load(kind)(max_workers, initializer, initargs,
                                       max_tasks_per_child, context, **extra)
            self._configure(backend)
            return backend

        self._core = _Core(kind, make_backend, max_workers, on_demand)
        self._finalizer = Finalize(self, _finalize, args=(self._core,), exitpriority=15)

    def _configure(self, backend: _base.Backend) -> None:
        """A subclass's chance to set up its backend before it starts."""

    # -- the stdlib's API ---------------------------------------------------------

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args,
               **kwargs: _P.kwargs) -> Future[_T]:
        """Schedule ``fn(*args, **kwargs)``; return its Future at once.

        Every keyword goes to ``fn``, as with the stdlib; for a per-call
        ``task_timeout`` use ``executor.options(task_timeout=...).submit(...)``.
        """
        return self._submit(fn, args, kwargs, self._task_timeout)

    def map(self, fn: Callable[..., _T], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int = 1, buffersize: int | None = None,
            task_timeout: float | None = _UNSET,
            progress: ProgressArg = None) -> Iterator[_T]:
        """``map(fn, *iterables)`` computed by the workers; results in order.

        As the stdlib's: the input is submitted at once (or, with ``buffersize``,
        at most that many chunks ahead of the results taken); ``timeout`` bounds the
        whole iteration from this call (``TimeoutError``); ``chunksize`` items travel
        together; the first failure is raised when its item is reached, and the
        chunks not yet sent are then dropped. mproc's additions: ``task_timeout``
        limits each call of ``fn`` (``TaskTimeoutError``, the worker replaced;
        default: the executor's), ``progress=True`` draws a tqdm bar and a callable
        is called as ``progress(done, total)``.
        """
        if task_timeout is _UNSET:
            task_timeout = self._task_timeout
        return self._map(fn, iterables, timeout, chunksize, buffersize,
                         _positive_seconds(task_timeout, "task_timeout"), progress)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more work; with ``wait``, return once every future is done and
        the workers have exited. ``cancel_futures`` cancels the futures whose tasks
        have not been sent to a worker."""
        core = self._core
        with core.lock:
            core.shutdown = True
        if cancel_futures:
            core.cancel_waiting()
        core.close(wait)

    def options(self: _E, *, task_timeout: float | None = _UNSET) -> _Options:
        """This executor with other defaults for the calls made through it:
        ``executor.options(task_timeout=5).submit(fn, x)``. (``submit`` passes every
        keyword to ``fn``, so per-call options cannot be keywords of ``submit``.)"""
        if task_timeout is _UNSET:
            task_timeout = self._task_timeout
        return _Options(self, _positive_seconds(task_timeout, "task_timeout"))

    # -- the work ---------------------------------------------------------------

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                task_timeout: float | None) -> Future[Any]:
        core = self._core
        future: Future[Any] = Future(core)
        with core.lock:
            backend = core.running()
            core.waiting.add(future)
            core.submit(backend, [Task(future, 0, fn, APPLY, (args, kwargs), 1, 0,
                                       task_timeout)])
        return future

    def _map(self, fn: Callable[..., Any], iterables: tuple[Iterable[Any], ...],
             timeout: float | None, chunksize: int, buffersize: int | None,
             task_timeout: float | None, progress: Any) -> Iterator[Any]:
        if buffersize is not None:
            if isinstance(buffersize, bool) or not isinstance(buffersize, int):
                raise TypeError("buffersize must be an integer or None")
            if buffersize < 1:
                raise ValueError("buffersize must be None or > 0")
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        deadline = None if timeout is None else timeout + time.monotonic()
        core = self._core
        chunks = chunked(iterables, chunksize)
        if buffersize is None:
            pieces = list(chunks)
            total: int | None = sum(len(piece) for piece in pieces)
        else:
            total = None
        label = f"map({_base.callable_name(fn)})"
        job = MapJob(core, make_progress(progress, total, label))
        tasks: list[Task] = []
        first = 0
        if buffersize is None:
            for index, piece in enumerate(pieces):
                tasks.append(Task(job, index, fn, STARMAP, piece, len(piece), first,
                                  task_timeout))
                first += len(piece)
            del pieces
            with core.lock:
                backend = core.running()
                core.waiting.add(job)
                if tasks:
                    core.submit(backend, tasks)
            return job.results(len(tasks), deadline, None)

        lazy = _LazyInput(core, job, fn, chunks, buffersize, task_timeout)
        with core.lock:
            core.running()
            core.waiting.add(job)
        lazy.fill(0)  # the first chunks leave now, as the stdlib's map submits them
        return job.results(None, deadline, lazy.fill)

    # -- the stdlib's private surface, which tests and tools reach ------------------

    @property
    def _processes(self) -> dict[int, Any]:
        backend = self._core.backend
        if backend is None:
            return {}
        return {getattr(w, "pid", None) or id(w): w for w in backend.workers}

    @property
    def _broken(self) -> str | bool:
        backend = self._core.backend
        if backend is None or backend.broken is None:
            return False
        return str(backend.broken)

    @property
    def _shutdown_thread(self) -> bool:
        return self._core.shutdown

    def __repr__(self) -> str:
        state = "shut down" if self._core.shutdown else "running"
        return f"<{type(self).__module__}.{type(self).__qualname__} {state} " \
               f"max_workers={self._max_workers}>"


class _LazyInput:
    """``map(..., buffersize=N)``: chunks submitted as results are taken, N ahead."""

    def __init__(self, core: _Core, job: MapJob, fn: Callable[..., Any],
                 chunks: Iterator[list[tuple[Any, ...]]], buffersize: int,
                 task_timeout: float | None) -> None:
        self._core, self._job, self._fn = core, job, fn
        self._chunks, self._buffersize, self._task_timeout = chunks, buffersize, task_timeout
        self._submitted = self._first = 0
        self._exhausted = False

    def fill(self, taking: int) -> int:
        """Before the caller waits for chunk ``taking``: submit up to ``taking +
        buffersize`` chunks; return how many there are so far."""
        batch: list[Task] = []
        want = taking + self._buffersize
        while not self._exhausted and self._submitted + len(batch) < want:
            piece = next(self._chunks, None)
            if piece is None:
                self._exhausted = True
                break
            batch.append(Task(self._job, self._submitted + len(batch), self._fn, STARMAP,
                              piece, len(piece), self._first, self._task_timeout))
            self._first += len(piece)
        if batch:
            with self._core.lock:
                self._core.submit(self._core.running(), batch)
            self._submitted += len(batch)
        return self._submitted


class _Options:
    """An executor seen with other defaults (``ProcessPoolExecutor.options``)."""

    def __init__(self, executor: _PoolExecutor, task_timeout: float | None) -> None:
        self._executor = executor
        self._task_timeout = task_timeout

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args,
               **kwargs: _P.kwargs) -> Future[_T]:
        """As the executor's ``submit``, with these options."""
        return self._executor._submit(fn, args, kwargs, self._task_timeout)

    def map(self, fn: Callable[..., _T], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int = 1, buffersize: int | None = None,
            progress: ProgressArg = None) -> Iterator[_T]:
        """As the executor's ``map``, with these options."""
        return self._executor._map(fn, iterables, timeout, chunksize, buffersize,
                                   self._task_timeout, progress)


class ProcessPoolExecutor(_PoolExecutor):
    """``concurrent.futures.ProcessPoolExecutor`` on mproc's process pool.

    The stdlib's constructor and methods, returning real ``concurrent.futures``
    Futures. Unlike the stdlib's, a worker that dies fails only the future it ran,
    with ``mproc.futures.WorkerLostError`` (also a ``BrokenProcessPool``), and is
    replaced; ``task_timeout`` (seconds, for every task; per call with ``map(...,
    task_timeout=)`` or ``options(task_timeout=)``) kills a task that overruns
    with its processes (``TaskTimeoutError``); ``future.cancel(running=True)``
    stops a task that runs; lambdas and closures work under every start method.

    ``backend="dask"`` runs the tasks on a Dask cluster instead (``cluster=``: a
    scheduler address, a ``distributed.Client`` or None, as for
    ``mproc.Pool(backend="dask")``; ``max_workers=None``: the cluster's threads).
    """

    _backend_kind = "processes"

    def __init__(self, max_workers: int | None = None, mp_context: Any = None,
                 initializer: Callable[..., object] | None = None,
                 initargs: Iterable[Any] = (), *, max_tasks_per_child: int | None = None,
                 task_timeout: float | None = None, backend: str = "processes",
                 cluster: Any = None) -> None:
        if backend == "dask":
            # the tasks run on a Dask cluster (as Pool(backend="dask")): max_workers
            # None is the cluster's threads; mp_context does not apply
            if max_workers is not None and max_workers <= 0:
                raise ValueError("max_workers must be greater than 0")
            self._mp_context = mp_context
            self._max_tasks_per_child = max_tasks_per_child
            super().__init__(max_workers or 0, initializer, tuple(initargs),
                             max_tasks_per_child, None, task_timeout, False, kind="dask",
                             options={"cluster": cluster})
            return
        if backend != "processes":
            raise ValueError(f"backend must be 'processes' or 'dask', not {backend!r}")
        if cluster is not None:
            raise ValueError("cluster= is for backend='dask'")
        if max_workers is None:
            max_workers = usable_cpu_count()
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if max_tasks_per_child is not None:
            if isinstance(max_tasks_per_child, bool) or not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        if mp_context is None:
            context = STATE.default_context
            mp_context = (context.get_context("spawn") if max_tasks_per_child is not None
                          else context.get_context())
        if max_tasks_per_child is not None and mp_context.get_start_method() == "fork":
            raise ValueError("max_tasks_per_child is incompatible with the 'fork' "
                             "multiprocessing start method; supply a different mp_context.")
        self._mp_context = mp_context
        self._max_tasks_per_child = max_tasks_per_child
        # Workers start on demand, as the stdlib's, except under fork, where the
        # stdlib starts them all at the first submit (fewer forks from a process
        # whose threads may hold locks).
        on_demand = mp_context.get_start_method() != "fork"
        super().__init__(max_workers, initializer, tuple(initargs), max_tasks_per_child,
                         mp_context, task_timeout, on_demand)


class ThreadPoolExecutor(_PoolExecutor):
    """``concurrent.futures.ThreadPoolExecutor`` on mproc's thread pool.

    The stdlib's constructor and methods; ``task_timeout`` fails a task that
    overruns with ``TaskTimeoutError`` (a thread cannot be killed: its call goes
    on unobserved, and a new thread takes its place).
    """

    _backend_kind = "threads"

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "",
                 initializer: Callable[..., object] | None = None,
                 initargs: Iterable[Any] = (), *, task_timeout: float | None = None) -> None:
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self._thread_name_prefix = (thread_name_prefix
                                    or f"ThreadPoolExecutor-{next(_thread_executors)}")
        super().__init__(max_workers, initializer, tuple(initargs), None, None, task_timeout,
                         True)

    def _configure(self, backend: _base.Backend) -> None:
        names = itertools.count()
        prefix = self._thread_name_prefix
        backend.thread_name = lambda: f"{prefix}_{next(names)}"  # type: ignore[attr-defined]


for _cls in (ProcessPoolExecutor, ThreadPoolExecutor):
    _cls.__module__ = "mproc.futures"
