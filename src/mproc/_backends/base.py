"""The seam between the Pool front end and where tasks run.

The front end (``front``: the stdlib API, result objects, chunking, lazy input)
knows nothing about processes; it drives one ``Backend`` through a few calls, and
the backend answers each task exactly once::

    front end                                  backend: processes | threads | (dask)
      submit([Task, ...])  -------------------->  runs every task somewhere
      close() / terminate() / join(timeout)
      workers, repopulate()                       (the stdlib's _pool, _repopulate_pool)
      <------ task.job._deliver(index, ok, value, count)
              exactly once per task, from any thread, never under a backend lock

A Pool subclass may ask for its own pickling (the stdlib's ``_setup_queues`` hook,
see ``front``): the backend then gets ``reducers=(forward, backward)``, two mappings
``{type: reduce}``; a backend that pickles uses ``forward`` for what the parent sends
and ``backward`` for what the workers send back (threads pickle nothing).

A job may say, at the last moment, that a task is no longer wanted: a backend
that finds ``job._claim`` calls ``job._claim(index)`` just before it hands the task
to a worker, and drops the task, unanswered, when that returns False (an Executor's
``Future.set_running_or_notify_cancel``; a Pool's results have no ``_claim``).
``cancel(job)`` stops every task of a job wherever it is: one not yet sent is
dropped, one that runs is stopped (its worker killed and replaced, or a thread
abandoned); a cancelled task is never answered.

A backend fails a task rather than losing it: a worker that dies, a timeout, a
terminated pool and a pool whose workers cannot start all end in ``_deliver`` with
an exception. Backends are loaded by name (``load``), so a new one (a Dask
cluster) needs no change to the front end.
"""

from __future__ import annotations

import importlib
import sys

from ..errors import MaybeEncodingError, RemoteTraceback, ResultUnpicklingError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    # (forward, backward): what a Pool subclass's queues would pickle with.
    ReducerMap = Mapping[type, Callable[[Any], Any]]
    Reducers = tuple[ReducerMap | None, ReducerMap | None]

__all__ = ["Task", "RunPolicy", "DEFAULT_POLICY", "Backend", "BACKENDS", "load", "callable_name", "describe_exception",
           "format_remote", "deliver_safely", "delivery_failed", "remote_exception"]

# Task modes: how the function is applied to the task's payload.
APPLY, MAP, STARMAP = 0, 1, 2


def callable_name(func: Any) -> str:
    """``module.qualname`` of a function, or a short repr."""
    qualname = getattr(func, "__qualname__", None)
    module = getattr(func, "__module__", None)
    if isinstance(qualname, str):
        return f"{module}.{qualname}" if isinstance(module, str) else qualname
    text = repr(func)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_exception(exc: BaseException) -> str:
    """``TypeName: message`` (the last line of a traceback)."""
    import traceback  # only when something failed: it costs 2 ms to import

    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def deliver_safely(task: Task, ok: bool, value: Any) -> None:
    """``task.deliver(ok, value)``; a callback that raises is reported, not propagated
    into the backend's thread."""
    try:
        task.deliver(ok, value)
    except Exception:
        delivery_failed(task)


def delivery_failed(task: Task) -> None:
    import traceback

    sys.stderr.write(f"mproc pool: delivering the result of {task.describe()} failed:\n")
    traceback.print_exc()


def remote_exception(load: Callable[[], Any], text: str, header: str,
                     task: str) -> BaseException:
    """The exception a worker sent (``load()`` unpickles it), its traceback ``text``
    set as a ``RemoteTraceback`` cause headed ``header``; a ResultUnpicklingError
    naming ``task`` if it does not unpickle."""
    cause = RemoteTraceback(f"{header}:\n{text}" if text else header)
    try:
        exc = load()
        if not isinstance(exc, BaseException):
            raise TypeError(f"expected an exception, got {type(exc).__name__}")
    except BaseException as error:
        failure = ResultUnpicklingError(describe_exception(error),
                                        f"the exception raised by {task}")
        failure.__cause__ = cause
        return failure
    if text and not isinstance(exc, MaybeEncodingError):
        exc.__cause__ = cause
    return exc


def format_remote(exc: BaseException) -> str:
    """The traceback of ``exc`` as text, chained causes included (in a worker, for
    the parent's ``RemoteTraceback``)."""
    import traceback

    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class RunPolicy:
    """What a call asks of its tasks' workers beyond running them; one per call.

    ``retries``: how many times a task whose worker died is run again on a fresh
    worker (at-least-once; a task that raised is never run again);
    ``retries_on_timeout``: a task past its timeout counts as such a death;
    ``memory_limit``: bytes of resident memory a worker may reach while it runs one
    of the tasks (past it the worker is killed and the task fails with
    MemoryLimitError).
    """

    __slots__ = ("retries", "retries_on_timeout", "memory_limit")

    def __init__(self, retries: int = 0, retries_on_timeout: bool = False,
                 memory_limit: int | None = None) -> None:
        self.retries = retries
        self.retries_on_timeout = retries_on_timeout
        self.memory_limit = memory_limit

    def __repr__(self) -> str:
        return (f"RunPolicy(retries={self.retries}, retries_on_timeout="
                f"{self.retries_on_timeout}, memory_limit={self.memory_limit})")


DEFAULT_POLICY = RunPolicy()


class Task:
    """One unit of work as the stdlib counts it: an apply, or a chunk of a map.

    ``payload`` is ``(args, kwds)`` for APPLY and a list of items (STARMAP: of
    argument tuples) otherwise; a backend may drop it once it has serialized it.
    ``first`` is the index of the chunk's first item in the whole input.
    """

    __slots__ = ("job", "index", "func", "mode", "payload", "count", "first", "timeout",
                 "policy")

    def __init__(self, job: Any, index: int, func: Callable[..., Any], mode: int,
                 payload: Any, count: int, first: int, timeout: float | None,
                 policy: RunPolicy = DEFAULT_POLICY) -> None:
        self.job = job
        self.index = index
        self.func = func
        self.mode = mode
        self.payload = payload
        self.count = count
        self.first = first
        self.timeout = timeout
        self.policy = policy

    def describe(self) -> str:
        """How error messages name this task: ``task 3 of map(mod.f) (items 30-39)``."""
        label = f"{getattr(self.job, '_kind', 'task')}({callable_name(self.func)})"
        if self.mode == APPLY:
            return f"{label} #{getattr(self.job, '_job', '?')}"
        if self.count == 1:
            items = f"item {self.first}"
        else:
            items = f"items {self.first}-{self.first + self.count - 1}"
        return f"task {self.index} of {label} ({items})"

    def deliver(self, ok: bool, value: Any) -> None:
        self.job._deliver(self.index, ok, value, self.count)


class Backend:
    """Where a pool's tasks run. Subclasses implement every method."""

    kind = ""
    # True: told size 0 when the user gave none, it sets ``size`` itself in start()
    sizes_itself = False
    # Why this backend cannot honour ``RunPolicy.memory_limit`` (None: it can).
    no_memory_limit: str | None = "it cannot measure one task's memory"

    def __init__(self, size: int, initializer: Callable[..., Any] | None, initargs: Sequence[Any],
                 maxtasksperchild: int | None, context: Any, *,
                 reducers: Reducers | None = None) -> None:
        self.size = size
        self.initializer = initializer
        self.initargs = tuple(initargs)
        self.maxtasksperchild = maxtasksperchild
        self.context = context
        self.reducers = reducers
        self.broken: BaseException | None = None  # set when the pool cannot work at all

    def start(self) -> None:
        """Start the workers; on failure stop what was started and raise."""
        raise NotImplementedError

    def submit(self, tasks: list[Task]) -> None:
        """Run ``tasks``; a task that cannot even be sent fails at once."""
        raise NotImplementedError

    def close(self) -> None:
        """Accept no more tasks; finish the others, then stop the workers."""
        raise NotImplementedError

    def terminate(self) -> None:
        """Stop the workers now; unfinished tasks fail with PoolTerminatedError."""
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every worker has stopped; False if ``timeout`` expired."""
        raise NotImplementedError

    @property
    def workers(self) -> list[Any]:
        """The live worker objects (processes or threads), as ``Pool._pool``."""
        raise NotImplementedError

    def repopulate(self) -> None:
        """Start workers until there are ``size`` of them."""
        raise NotImplementedError

    def cancel(self, job: Any) -> bool:
        """Stop every task of ``job``: drop those not started, stop those running.

        True if a task of ``job`` was found (it will never be answered), False if
        none was (they were all answered, or are being answered now).
        """
        raise NotImplementedError


BACKENDS = {
    "processes": "mproc._backends.processes:ProcessBackend",
    "threads": "mproc._backends.threads:ThreadBackend",
    "dask": "mproc._backends.dask:DaskBackend",
}


def load(name: str) -> type[Backend]:
    """The backend class registered as ``name`` (imported on first use)."""
    try:
        path = BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown pool backend {name!r}; available: {', '.join(sorted(BACKENDS))}"
        ) from None
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
