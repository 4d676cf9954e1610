"""The errors an executor's futures fail with: mproc's, and the stdlib's too.

Code written for ``concurrent.futures`` catches ``BrokenProcessPool`` (or
``BrokenExecutor``) around ``future.result()``. mproc's backends fail a task with
their own errors (``WorkerLostError``, ``StartupError``, ``PoolTerminatedError``),
so the executor hands each future a subclass of both: ``except WorkerLostError``
and ``except BrokenProcessPool`` catch the same exception. ``except`` matches by
real inheritance (``__instancecheck__`` is not consulted), hence real classes.
``BrokenProcessPool`` lives in ``concurrent.futures.process``, which imports the
stdlib's ``multiprocessing``; mproc never imports it: the public classes derive from
``BrokenExecutor``, and an error is raised as a subclass that adds
``BrokenProcessPool`` when that module is loaded, which any code naming the class
has done (``raised_as``).

Only a dead worker's own futures fail; unlike the stdlib's executor, mproc's goes
on with a replacement, so the ``Broken*`` name describes the task, not the pool.

The same goes for the other failures the stdlib reports as a broken pool: a result
that cannot be unpickled in the parent breaks the stdlib's executor (its result
thread dies), so mproc's ``ResultUnpicklingError`` is a ``BrokenProcessPool`` here
too; and a result (or exception) that cannot be pickled in the worker comes back
from the stdlib's executor as the pickling error, so mproc's ``MaybeEncodingError``
is a ``pickle.PicklingError`` here.
"""

from __future__ import annotations

import pickle
import sys
from concurrent.futures import BrokenExecutor
from concurrent.futures.thread import BrokenThreadPool

from .. import errors as _errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BrokenThreadPool",
    "WorkerLostError",
    "StartupError",
    "ThreadStartupError",
    "PoolTerminatedError",
    "ThreadPoolTerminatedError",
    "MaybeEncodingError",
    "ResultUnpicklingError",
    "translate",
]

_PROCESS_MODULE = "concurrent.futures.process"


class WorkerLostError(_errors.WorkerLostError, BrokenExecutor):
    """The worker running this future's task died (signal, ``os._exit``, crash).

    Only this future fails; the executor replaces the worker and runs the others.
    Also a ``concurrent.futures.process.BrokenProcessPool``, so existing ``except``
    clauses catch it. ``.pid``, ``.exitcode`` and ``.task`` say which and how.
    """


class StartupError(_errors.StartupError, BrokenExecutor):
    """The executor's worker processes keep dying before they can work (a failing
    initializer, an unguarded main module under spawn): every pending future fails
    with this, and so does every later ``submit``. Also a ``BrokenProcessPool``."""


class ThreadStartupError(_errors.StartupError, BrokenThreadPool):
    """The thread executor's initializer keeps failing; also a ``BrokenThreadPool``."""


class PoolTerminatedError(_errors.PoolTerminatedError, BrokenExecutor):
    """The executor's workers were stopped (interpreter exit, Ctrl-C) before this
    future's task finished. Also a ``BrokenProcessPool``."""


class ThreadPoolTerminatedError(_errors.PoolTerminatedError, BrokenThreadPool):
    """The thread executor was stopped before this future's task finished."""


class MaybeEncodingError(_errors.MaybeEncodingError, pickle.PicklingError):
    """A task's result (or exception) could not be pickled in the worker; the
    worker goes on. Also a ``pickle.PicklingError``, as the stdlib's executor
    raises the pickling error itself."""


class ResultUnpicklingError(_errors.ResultUnpicklingError, BrokenExecutor):
    """A task's result reached the parent but could not be unpickled; only this
    future fails. Also a ``BrokenProcessPool``, what the stdlib's executor raises
    (its pool breaks)."""


_TRANSLATIONS: dict[str, dict[type[BaseException], type[BaseException]]] = {
    "processes": {
        _errors.WorkerLostError: WorkerLostError,
        _errors.StartupError: StartupError,
        _errors.PoolTerminatedError: PoolTerminatedError,
        _errors.MaybeEncodingError: MaybeEncodingError,
        _errors.ResultUnpicklingError: ResultUnpicklingError,
    },
    "threads": {
        _errors.StartupError: ThreadStartupError,
        _errors.PoolTerminatedError: ThreadPoolTerminatedError,
    },
}
_TRANSLATIONS["dask"] = _TRANSLATIONS["processes"]  # a cluster's workers are processes


_BROKEN_POOL = {WorkerLostError, StartupError, PoolTerminatedError, ResultUnpicklingError}
_with_stdlib_base: dict[type, type] = {}


def raised_as(cls: type[BaseException]) -> type[BaseException]:
    """The class an error of ``cls`` is raised as: for the broken-pool errors, a
    subclass that is also ``concurrent.futures.process.BrokenProcessPool`` once that
    module is loaded. Code that names ``BrokenProcessPool`` has loaded it; mproc does
    not load it itself, because it loads the stdlib's ``multiprocessing``."""
    if cls not in _BROKEN_POOL:
        return cls
    module = sys.modules.get(_PROCESS_MODULE)
    if module is None:
        return cls
    twin = _with_stdlib_base.get(cls)
    if twin is None:
        twin = _with_stdlib_base[cls] = type(cls.__name__, (cls, module.BrokenProcessPool), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__, "__reduce__": _reduce_twin})
    return twin


def _reduce_twin(self: BaseException) -> tuple[Any, ...]:
    return (_rebuild, (type(self).__mro__[1], self.args, self.__dict__))


def _rebuild(cls: type[BaseException], args: tuple[Any, ...],
             state: dict[str, Any]) -> BaseException:
    """Unpickle a broken-pool error as this process raises it (see ``raised_as``)."""
    return _copy(raised_as(cls), args, state)


def _copy(cls: type[BaseException], args: tuple[Any, ...],
          state: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls, *args)  # not __init__: some rework their arguments
    error.args = args
    error.__dict__.update(state)
    return error


def translate(exc: BaseException, backend: str) -> BaseException:
    """``exc`` as the executor's futures raise it (same message, cause and fields)."""
    cls = _TRANSLATIONS.get(backend, {}).get(type(exc))
    if cls is None:
        return exc
    twin = _copy(raised_as(cls), exc.args, exc.__dict__)
    twin.__cause__ = exc.__cause__
    twin.__traceback__ = exc.__traceback__
    return twin


for _cls in (WorkerLostError, StartupError, ThreadStartupError, PoolTerminatedError,
             ThreadPoolTerminatedError, MaybeEncodingError, ResultUnpicklingError):
    _cls.__module__ = "mproc.futures"
