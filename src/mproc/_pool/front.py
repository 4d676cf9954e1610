"""The Pool front end: the stdlib's API, over whichever backend runs the tasks.

Data flow::

    Pool.apply_async / map_async / starmap_async          Pool.imap / imap_unordered
      check running, make the result object                 result iterator + Window
      cut the input into chunks (tasks.cut)                 Feeder thread pulls the input
              \\                                             /
               +-------> backend.submit([Task, ...]) <-----+
                                  |
                 processes | threads | (dask): run each Task
                                  |
                 task.job._deliver(index, ok, value, count)  -> results, callbacks,
                                                                progress, Window room

A subclass's pickling (the stdlib's ``_setup_queues`` hook): the stdlib's Pool sends
everything through two shared queues made by ``_setup_queues``, so a subclass that
overrides it (joblib's MemmappingPool: queues whose pickler turns large numpy arrays
into memmap references) controls how tasks and results are pickled. mproc sends over
per-worker pipes instead; to keep the meaning, ``__init__`` calls an overriding
``_setup_queues`` and hands the reducers its queues carry (``_reducers``) to the
backend: the in-queue's pickle what the parent sends, the out-queue's what the
workers send back. See ``Pool._setup_queues``.

Beyond the stdlib: ``timeout=`` per task (TaskTimeoutError, the worker killed and
replaced), ``progress=`` (a tqdm bar or a callable), ``buffersize=`` and a bounded
window for the lazy inputs of imap, a Ctrl-C during a wait terminates the pool, and
the default size is the number of CPUs this process may use.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
import weakref
from collections.abc import Mapping

from .._backends import base as _backend
from .._backends.base import APPLY, DEFAULT_POLICY, MAP, STARMAP, RunPolicy, Task, callable_name
from .._runtime.finalize import Finalize
from .._runtime.state import STATE
from ..errors import PoolTerminatedError, StartupError
from . import options as _options
from .cpus import usable_cpu_count
from .progress import make_progress
from .results import ApplyResult, IMapIterator, IMapUnorderedIterator, MapResult
from .tasks import DEFAULT_WINDOW_CHUNKS, Feeder, Window, cut, default_chunksize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TypeVar

    from .._backends.base import Backend
    from .._context import BaseContext
    from .progress import ProgressArg

    _S = TypeVar("_S")
    _R = TypeVar("_R")
    _P = TypeVar("_P", bound="Pool")

__all__ = ["Pool", "ThreadPool", "INIT", "RUN", "CLOSE", "TERMINATE"]

INIT, RUN, CLOSE, TERMINATE = "INIT", "RUN", "CLOSE", "TERMINATE"
CLUSTER_ENV = "MPROC_CLUSTER"  # set by `python -m mproc run --cluster ADDRESS`


def _default_context() -> Any:
    """The default context (published by mproc._context, which sits above us)."""
    return STATE.default_context.get_context()


def _feeder_exit(pool_ref: weakref.ref[Pool]) -> None:
    pool = pool_ref()
    if pool is not None:
        pool._feeder_done()


def _shutdown(backend: Backend, iterators: weakref.WeakSet[Any],
              queues: tuple[Any, ...] = ()) -> None:
    """Finalizer: the pool object is gone or the interpreter exits."""
    for iterator in list(iterators):
        if iterator._window is not None:
            iterator._window.stop()
    try:
        backend.terminate()
    finally:
        _options.close_queues(queues)


class Pool:
    """A pool of worker processes (the stdlib's ``multiprocessing.pool.Pool``).

    ``with mproc.Pool(4) as pool: pool.map(f, xs)``; ``mproc.Pool(...)`` (or a
    context's ``ctx.Pool(...)``) makes one with that context's start method.

    Args:
        processes: the number of workers; None: the CPUs this process may use
            (affinity mask and cgroup CPU limit).
        initializer: called as ``initializer(*initargs)`` in each worker at start.
        initargs: the arguments of ``initializer``.
        maxtasksperchild: a worker is replaced after this many tasks (None: never).
        context: the context whose start method starts the workers (default: the
            default context).
        backend: ``"processes"`` (the default), ``"threads"``, or ``"dask"``: the
            tasks run on a Dask cluster (``pip install pymproc[dask]``), in batches;
            ``processes`` defaults to the cluster's worker threads there, and
            ``maxtasksperchild`` is refused.
        cluster: for ``backend="dask"``: a scheduler address (``"tcp://host:8786"``),
            a ``distributed.Client`` (never closed by the pool), a Dask cluster
            object, or None: ``MPROC_CLUSTER``, ``DASK_SCHEDULER_ADDRESS`` or dask's
            ``scheduler-address`` if set, otherwise a ``LocalCluster`` on loopback
            that the pool starts and stops. ``MPROC_CLUSTER`` (which ``python -m
            mproc run --cluster ADDRESS`` sets) also makes every Pool that names no
            backend a dask pool.
        retries: mproc's addition: run a task whose worker died (a signal,
            ``os._exit``, a crash) again, up to this many times, on a live worker; the
            last failure is a ``WorkerLostError`` whose ``attempts`` lists each
            ``(pid, exit code)``. At-least-once: use it for tasks that are safe to run
            twice. A task that raised is never run again. The default of every call.
        retries_on_timeout: count a task past its ``timeout=`` as such a death.
        memory_limit: mproc's addition, in bytes: a worker whose resident memory
            passes this while it runs a task is killed at once and replaced, and the
            task fails with ``mproc.errors.MemoryLimitError`` (a ``MemoryError``);
            never retried. The default of every call; the processes backend only.

    Raises:
        ValueError: ``processes`` < 1, or ``maxtasksperchild`` is not a positive int.
        TypeError: ``initializer`` is not callable.
        mproc.errors.ClusterConnectionError: ``backend="dask"`` and the scheduler did
            not answer within dask's connect timeout, or has no workers.

    Beyond the stdlib it never hangs: a worker that dies fails the task it was running
    with ``mproc.errors.WorkerLostError`` and is replaced; an unpicklable result fails
    its task (``MaybeEncodingError``); workers that die at start-up again and again
    break the pool with ``mproc.errors.StartupError``. ``timeout=`` limits each task
    (``mproc.errors.TaskTimeoutError``), ``progress=`` reports progress, ``imap`` reads
    its input lazily, and functions may be lambdas or closures. Leaving the ``with``
    block terminates the workers (as in the stdlib): ``close()`` and ``join()`` first
    to wait for outstanding work.
    """

    _backend_name = "processes"

    @staticmethod
    def Process(ctx: Any, *args: Any, **kwds: Any) -> Any:  # noqa: N802 - stdlib name
        """Make a process of context ``ctx`` (the stdlib's hook, kept for subclasses)."""
        return ctx.Process(*args, **kwds)

    def __init__(self, processes: int | None = None,
                 initializer: Callable[..., object] | None = None,
                 initargs: Iterable[Any] = (), maxtasksperchild: int | None = None,
                 context: BaseContext | None = None, *, backend: str | None = None,
                 cluster: Any = None, retries: int = 0, retries_on_timeout: bool = False,
                 memory_limit: int | None = None) -> None:
        self._state = INIT
        self._backend: Backend | None = None
        self._iterators: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._feeders = 0
        self._feeders_done = threading.Condition(self._lock)
        name = backend or self._backend_name
        options: dict[str, Any] = {}
        if backend is None and name == "processes" and os.environ.get(CLUSTER_ENV):
            name = "dask"  # python -m mproc run --cluster ADDRESS
        if name == "dask":
            options["cluster"] = cluster if cluster is not None else os.environ.get(
                CLUSTER_ENV) or None
        elif cluster is not None:
            raise ValueError(f"cluster= is for backend='dask', not {name!r}")
        backend_class = _backend.load(name)
        self._policy = _options.make_policy(DEFAULT_POLICY, retries, retries_on_timeout, memory_limit)
        _options.check_backend_policy(self._policy, backend_class)
        if context is None and name == "processes":
            context = _default_context()
        self._ctx = context
        if processes is None:
            # a backend that sizes itself (a cluster's threads) is told 0
            processes = 0 if backend_class.sizes_itself else usable_cpu_count()
        elif processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (
                isinstance(maxtasksperchild, bool) or not isinstance(maxtasksperchild, int)
                or maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        queues: tuple[Any, ...] = ()
        if type(self)._setup_queues is not Pool._setup_queues:  # once per pool, not per task
            queues, options["reducers"] = _options.subclass_pickling(self)
        try:
            self._backend = backend_class(processes, initializer, tuple(initargs),
                                          maxtasksperchild, context, **options)
            self._backend.start()
        except BaseException:
            _options.close_queues(queues)
            raise
        self._processes = self._backend.size
        self._state = RUN
        self._terminate = Finalize(self, _shutdown,
                                   args=(self._backend, self._iterators, queues),
                                   exitpriority=15)

    def _setup_queues(self) -> None:
        """The stdlib's hook that makes the pool's queues; here, the place a subclass
        says how tasks and results are pickled (see ``mproc._pool.options``).
        This base version makes nothing: each worker has its own pipes."""

    # -- the stdlib's private surface, which tests and tools reach ------------------

    @property
    def _pool(self) -> list[Any]:
        return self._backend.workers if self._backend is not None else []

    def _repopulate_pool(self) -> None:
        if self._backend is not None:
            self._backend.repopulate()

    def _check_running(self) -> None:
        if self._state != RUN:
            raise ValueError("Pool not running")
        broken = self._backend.broken if self._backend is not None else None
        if broken is not None:
            error = StartupError(*broken.args)
            raise error from broken.__cause__

    def _call_policy(self, retries: int | None, retries_on_timeout: bool | None,
                     memory_limit: int | None) -> RunPolicy:
        """The pool's RunPolicy with what one call gave instead (checked)."""
        policy = _options.make_policy(self._policy, retries, retries_on_timeout, memory_limit)
        if policy is not self._policy:
            _options.check_backend_policy(policy, self._backend)
        return policy

    def _interrupted(self) -> None:
        """A Ctrl-C reached a caller waiting on this pool: stop every worker now."""
        try:
            self.terminate()
        except BaseException:
            pass

    # -- submitting -------------------------------------------------------------

    def apply(self, func: Callable[..., _R], args: Iterable[Any] = (),
              kwds: Mapping[str, Any] = {}, *, timeout: float | None = None,  # noqa: B006
              retries: int | None = None, retries_on_timeout: bool | None = None,
              memory_limit: int | None = None) -> _R:
        """Call ``func(*args, **kwds)`` in a worker, wait, and return its result.

        Args:
            func: the function; a lambda, closure or ``__main__`` function works.
            args: its positional arguments.
            kwds: its keyword arguments.
            timeout: mproc's addition: the longest the call may run, in seconds (None:
                no limit). Past it the worker is killed and replaced.
            retries, retries_on_timeout, memory_limit: as for ``Pool`` (None: the
                pool's); every call that submits work takes them.

        Raises:
            mproc.errors.TaskTimeoutError: the call ran longer than ``timeout``.
            mproc.errors.WorkerLostError: the worker died while running it.
            ValueError: the pool is not running (closed or terminated).
            Exception: whatever ``func`` raised, with the worker's traceback as its
                ``__cause__``.
        """
        return self.apply_async(func, args, kwds, timeout=timeout, retries=retries,
                                retries_on_timeout=retries_on_timeout,
                                memory_limit=memory_limit).get()

    def apply_async(self, func: Callable[..., _R], args: Iterable[Any] = (),
                    kwds: Mapping[str, Any] = {},  # noqa: B006
                    callback: Callable[[_R], object] | None = None,
                    error_callback: Callable[[BaseException], object] | None = None, *,
                    timeout: float | None = None, retries: int | None = None,
                    retries_on_timeout: bool | None = None,
                    memory_limit: int | None = None) -> ApplyResult[_R]:
        """Start ``func(*args, **kwds)`` in a worker; return an ApplyResult at once.

        Args:
            func, args, kwds: as for ``apply``.
            callback: called as ``callback(value)`` in the pool's result thread when
                the call succeeds (keep it quick).
            error_callback: called as ``error_callback(exception)`` when it fails.
            timeout: mproc's per-call limit in seconds, as for ``apply``: past it the
                result fails with ``mproc.errors.TaskTimeoutError``.

        Returns:
            mproc.pool.ApplyResult: ``.get(timeout)`` waits for the value (or raises
            the call's exception); ``.ready()``, ``.successful()``, ``.wait()``.

        Raises:
            ValueError: the pool is not running, or ``timeout`` is not positive.
        """
        self._check_running()
        timeout = _options.check_timeout(timeout)
        policy = self._call_policy(retries, retries_on_timeout, memory_limit)
        result = ApplyResult(self, callback, error_callback)
        assert self._backend is not None
        self._backend.submit([Task(result, 0, func, APPLY, (args, kwds), 1, 0, timeout,
                                   policy)])
        return result

    def map(self, func: Callable[[_S], _R], iterable: Iterable[_S],
            chunksize: int | None = None, *, timeout: float | None = None,
            progress: ProgressArg = None,
            retries: int | None = None, retries_on_timeout: bool | None = None,
            memory_limit: int | None = None) -> list[_R]:
        """``list(map(func, iterable))``, computed by the workers, chunk by chunk.

        Args:
            func: called once per item; a lambda, closure or ``__main__`` function works.
            iterable: the items (read whole, at once; use ``imap`` for a lazy input).
            chunksize: how many items go to a worker at a time (default: computed from
                the length and the number of workers, finer with ``progress``).
            timeout: mproc's addition: the longest *each call* of ``func`` may run, in
                seconds; queueing time does not count. A call that runs longer fails
                the map with ``mproc.errors.TaskTimeoutError``; its worker is killed and
                replaced.
            progress: mproc's addition: True draws a tqdm bar (``pip install
                pymproc[progress]``); a callable is called as ``progress(done, total)``
                in the pool's result thread after each finished chunk.

        Returns:
            The results, in the order of ``iterable``.

        Raises:
            Exception: the first failure (``func``'s exception with the worker's
                traceback as ``__cause__``, ``mproc.errors.TaskTimeoutError``,
                ``mproc.errors.WorkerLostError``...), once all chunks have run.
            ValueError: the pool is not running, ``chunksize`` < 1 or ``timeout`` is
                not positive.

        >>> with mproc.Pool(2) as pool:
        ...     pool.map(lambda x: x * x, range(5), timeout=10, progress=lambda done, total: None)
        [0, 1, 4, 9, 16]
        """
        return self._map_async(func, iterable, MAP, chunksize, None, None, timeout, progress,
                               "map", self._call_policy(retries, retries_on_timeout, memory_limit)).get()

    def map_async(self, func: Callable[[_S], _R], iterable: Iterable[_S],
                  chunksize: int | None = None,
                  callback: Callable[[list[_R]], object] | None = None,
                  error_callback: Callable[[BaseException], object] | None = None, *,
                  timeout: float | None = None, progress: ProgressArg = None,
                  retries: int | None = None, retries_on_timeout: bool | None = None,
                  memory_limit: int | None = None) -> MapResult[_R]:
        """Like ``map``, but return a MapResult at once (``.get(timeout)`` gives the list).

        ``callback(list)`` or ``error_callback(exception)`` runs in the pool's result
        thread when the whole map has finished; ``timeout=`` and ``progress=`` as for
        ``map``.
        """
        return self._map_async(func, iterable, MAP, chunksize, callback, error_callback,
                               timeout, progress, "map_async",
                               self._call_policy(retries, retries_on_timeout, memory_limit))

    def starmap(self, func: Callable[..., _R], iterable: Iterable[Iterable[Any]],
                chunksize: int | None = None, *, timeout: float | None = None,
                progress: ProgressArg = None,
                retries: int | None = None, retries_on_timeout: bool | None = None,
                memory_limit: int | None = None) -> list[_R]:
        """Like ``map``, but each item is unpacked as arguments: ``func(*item)``.

        ``pool.starmap(pow, [(2, 3), (3, 2)])`` is ``[8, 9]``; ``chunksize``,
        ``timeout=`` and ``progress=`` as for ``map``.
        """
        return self._map_async(func, iterable, STARMAP, chunksize, None, None, timeout,
                               progress, "starmap",
                               self._call_policy(retries, retries_on_timeout, memory_limit)).get()

    def starmap_async(self, func: Callable[..., _R], iterable: Iterable[Iterable[Any]],
                      chunksize: int | None = None,
                      callback: Callable[[list[_R]], object] | None = None,
                      error_callback: Callable[[BaseException], object] | None = None, *,
                      timeout: float | None = None,
                      progress: ProgressArg = None,
                      retries: int | None = None, retries_on_timeout: bool | None = None,
                      memory_limit: int | None = None) -> MapResult[_R]:
        """Like ``starmap``, but return a MapResult at once (callbacks as for ``map_async``)."""
        return self._map_async(func, iterable, STARMAP, chunksize, callback, error_callback,
                               timeout, progress, "starmap_async",
                               self._call_policy(retries, retries_on_timeout, memory_limit))

    def _map_async(self, func: Callable[..., Any], iterable: Iterable[Any], mode: int,
                   chunksize: int | None, callback: Any, error_callback: Any,
                   timeout: float | None, progress: Any, kind: str,
                   policy: RunPolicy) -> MapResult[Any]:
        self._check_running()
        timeout = _options.check_timeout(timeout)
        if not hasattr(iterable, "__len__"):
            iterable = list(iterable)
        length = len(iterable)  # type: ignore[arg-type]
        if chunksize is None:
            chunksize = default_chunksize(length, self._processes, fine=bool(progress))
        elif chunksize < 1 and length:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        reporter = make_progress(progress, length, f"{kind}({callable_name(func)})")
        result = MapResult(self, max(1, chunksize), length, callback, error_callback, reporter,
                           kind)
        # A failed map does not cancel its other chunks: they run, and join() waits
        # for them, as in the stdlib (CPython's test_map_no_failfast relies on it).
        try:
            tasks, items = cut(result, func, mode, iterable, max(1, chunksize), timeout, policy)
        except Exception as exc:  # iterating the input failed: that is the result
            result._deliver(0, False, exc, 0)
            return result
        if items != length:
            result._resize(items, len(tasks))
        if tasks:
            assert self._backend is not None
            self._backend.submit(tasks)
        return result

    def imap(self, func: Callable[[_S], _R], iterable: Iterable[_S], chunksize: int = 1,
             buffersize: int | None = None, *, timeout: float | None = None,
             progress: ProgressArg = None,
             retries: int | None = None, retries_on_timeout: bool | None = None,
             memory_limit: int | None = None) -> IMapIterator[_R]:
        """A lazy ``map``: an iterator of the results, in input order, as they come.

        Args:
            func: called once per item.
            iterable: any iterable, even endless: mproc reads it lazily (the stdlib's
                ``imap`` reads it all at once).
            chunksize: how many items go to a worker at a time.
            buffersize: mproc's addition: read at most this many chunks ahead of the
                results the caller has taken (default: 256, or 16 per worker if more).
            timeout: mproc's per-call limit in seconds, as for ``map``: an item whose
                call runs longer raises ``mproc.errors.TaskTimeoutError`` in its turn.
            progress: as for ``map``; ``total`` is None until the input is exhausted
                (unless it has a ``len()``).

        Returns:
            mproc.pool.IMapIterator: ``next(it)``, or ``it.next(timeout)`` to wait at
            most ``timeout`` seconds (``mproc.TimeoutError``). A failed item raises its
            exception when its turn comes.

        Raises:
            ValueError: the pool is not running, ``chunksize`` or ``buffersize`` < 1.
            TypeError: ``buffersize`` is not an int.
        """
        return self._imap(IMapIterator, func, iterable, chunksize, buffersize, timeout,
                          progress, "imap",
                          self._call_policy(retries, retries_on_timeout, memory_limit))  # type: ignore[return-value]

    def imap_unordered(self, func: Callable[[_S], _R], iterable: Iterable[_S],
                       chunksize: int = 1, buffersize: int | None = None, *,
                       timeout: float | None = None,
                       progress: ProgressArg = None,
                       retries: int | None = None, retries_on_timeout: bool | None = None,
                       memory_limit: int | None = None) -> IMapUnorderedIterator[_R]:
        """Like ``imap``, but results come in the order they complete (same arguments)."""
        return self._imap(IMapUnorderedIterator, func, iterable, chunksize, buffersize,
                          timeout, progress, "imap_unordered",
                          self._call_policy(retries, retries_on_timeout, memory_limit))  # type: ignore[return-value]

    def _imap(self, cls: type[Any], func: Callable[..., Any], iterable: Iterable[Any],
              chunksize: int, buffersize: int | None, timeout: float | None, progress: Any,
              kind: str, policy: RunPolicy) -> Any:
        self._check_running()
        timeout = _options.check_timeout(timeout)
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        if buffersize is not None:
            if isinstance(buffersize, bool) or not isinstance(buffersize, int):
                raise TypeError("buffersize must be an integer or None")
            if buffersize < 1:
                raise ValueError("buffersize must be None or > 0")
        try:
            total: int | None = len(iterable)  # type: ignore[arg-type]
        except Exception:
            total = None
        iterator = iter(iterable)
        limit = buffersize
        if limit is None:
            limit = chunksize * max(DEFAULT_WINDOW_CHUNKS, 16 * self._processes)
        window = Window(limit)
        reporter = make_progress(progress, total, f"{kind}({callable_name(func)})")
        result = cls(self, window, reporter)
        result._kind = kind
        assert self._backend is not None
        feeder = Feeder(result, self._backend.submit, func, MAP, iterator, chunksize, window,
                        timeout, functools.partial(_feeder_exit, weakref.ref(self)), policy)
        with self._lock:
            running = self._state == RUN
            if running:
                self._feeders += 1
                self._iterators.add(result)
        if not running:  # closed by another thread meanwhile
            if reporter is not None:
                reporter.close()
            raise ValueError("Pool not running")
        try:
            feeder.start()
        except BaseException:
            self._feeder_done()
            raise
        return result

    def _feeder_done(self) -> None:
        with self._lock:
            self._feeders -= 1
            last = self._feeders == 0
            self._feeders_done.notify_all()
            closing = self._state == CLOSE
        if last and closing and self._backend is not None:
            self._backend.close()

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Accept no more work; the workers exit once the submitted work is done."""
        with self._lock:
            if self._state != RUN:
                return
            self._state = CLOSE
            feeders = self._feeders
            iterators = list(self._iterators)
        for iterator in iterators:  # join() must be able to finish every lazy input
            if iterator._window is not None:
                iterator._window.unbound()
        if not feeders and self._backend is not None:
            self._backend.close()

    def terminate(self) -> None:
        """Stop the workers now; unfinished tasks fail with ``mproc.errors.PoolTerminatedError``.

        Leaving the pool's ``with`` block calls this; so does garbage collection of a
        pool that was not closed.
        """
        with self._lock:
            self._state = TERMINATE
            iterators = list(self._iterators)
        error = PoolTerminatedError("the pool was terminated")
        for iterator in iterators:
            iterator._abort(error)
        self._terminate()

    def join(self) -> None:
        """Wait for the workers to exit (after ``close()`` or ``terminate()``)."""
        if self._state == RUN:
            raise ValueError("Pool is still running")
        if self._state not in (CLOSE, TERMINATE):
            raise ValueError("In unknown state")
        try:
            if self._state == CLOSE:
                with self._lock:
                    while self._feeders and self._state == CLOSE:
                        self._feeders_done.wait()
            if self._backend is not None:
                self._backend.join()
        except KeyboardInterrupt:
            self._interrupted()
            raise

    def __enter__(self: _P) -> _P:
        """The pool itself; leaving the ``with`` block terminates it."""
        self._check_running()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Terminate the pool (as the stdlib's: call ``close()``/``join()`` to wait)."""
        self.terminate()

    def __reduce__(self) -> Any:
        raise NotImplementedError(
            "pool objects cannot be passed between processes or pickled")

    def __repr__(self) -> str:
        return (f"<{type(self).__module__}.{type(self).__qualname__} state={self._state} "
                f"pool_size={len(self._pool)}>")

    def __del__(self, _warn: Any = warnings.warn, RUN: str = RUN) -> None:  # noqa: N803
        if getattr(self, "_state", None) == RUN:
            _warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning,
                  source=self)


class ThreadPool(Pool):
    """A pool of worker threads with the Pool API (the stdlib's ``ThreadPool``)."""

    _backend_name = "threads"

    @staticmethod
    def Process(ctx: Any, *args: Any, **kwds: Any) -> Any:  # noqa: N802 - stdlib name
        """Make a thread (the stdlib's hook, kept for subclasses)."""
        return threading.Thread(*args, **kwds)

    def __init__(self, processes: int | None = None,
                 initializer: Callable[..., object] | None = None,
                 initargs: Iterable[Any] = ()) -> None:
        Pool.__init__(self, processes, initializer, initargs)


for _cls in (Pool, ThreadPool):
    _cls.__module__ = "mproc.pool"
