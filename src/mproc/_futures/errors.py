"""The errors an executor's futures fail with: mproc's, and the stdlib's too.

Code written for ``concurrent.futures`` catches ``BrokenProcessPool`` (or
``BrokenExecutor``) around ``future.result()``. mproc's backends fail a task with
their own errors (``WorkerLostError``, ``StartupError``, ``PoolTerminatedError``),
so the executor hands each future a subclass of both: ``except WorkerLostError``
and ``except BrokenProcessPool`` catch the same exception. ``except`` matches by
real inheritance (``__instancecheck__`` is not consulted), hence real classes.

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

import concurrent.futures.process as _cf_process
import concurrent.futures.thread as _cf_thread
import pickle

from .. import errors as _errors

__all__ = [
    "BrokenProcessPool",
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

BrokenProcessPool = _cf_process.BrokenProcessPool
BrokenThreadPool = _cf_thread.BrokenThreadPool


class WorkerLostError(_errors.WorkerLostError, BrokenProcessPool):
    """The worker running this future's task died (signal, ``os._exit``, crash).

    Only this future fails; the executor replaces the worker and runs the others.
    Also a ``concurrent.futures.process.BrokenProcessPool``, so existing ``except``
    clauses catch it. ``.pid``, ``.exitcode`` and ``.task`` say which and how.
    """


class StartupError(_errors.StartupError, BrokenProcessPool):
    """The executor's worker processes keep dying before they can work (a failing
    initializer, an unguarded main module under spawn): every pending future fails
    with this, and so does every later ``submit``. Also a ``BrokenProcessPool``."""


class ThreadStartupError(_errors.StartupError, BrokenThreadPool):
    """The thread executor's initializer keeps failing; also a ``BrokenThreadPool``."""


class PoolTerminatedError(_errors.PoolTerminatedError, BrokenProcessPool):
    """The executor's workers were stopped (interpreter exit, Ctrl-C) before this
    future's task finished. Also a ``BrokenProcessPool``."""


class ThreadPoolTerminatedError(_errors.PoolTerminatedError, BrokenThreadPool):
    """The thread executor was stopped before this future's task finished."""


class MaybeEncodingError(_errors.MaybeEncodingError, pickle.PicklingError):
    """A task's result (or exception) could not be pickled in the worker; the
    worker goes on. Also a ``pickle.PicklingError``, as the stdlib's executor
    raises the pickling error itself."""


class ResultUnpicklingError(_errors.ResultUnpicklingError, BrokenProcessPool):
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


def translate(exc: BaseException, backend: str) -> BaseException:
    """``exc`` as the executor's futures raise it (same message, cause and fields)."""
    cls = _TRANSLATIONS.get(backend, {}).get(type(exc))
    if cls is None:
        return exc
    twin = cls.__new__(cls, *exc.args)  # not __init__: some rework their arguments
    twin.args = exc.args
    twin.__dict__.update(exc.__dict__)
    twin.__cause__ = exc.__cause__
    twin.__traceback__ = exc.__traceback__
    return twin


for _cls in (WorkerLostError, StartupError, ThreadStartupError, PoolTerminatedError,
             ThreadPoolTerminatedError, MaybeEncodingError, ResultUnpicklingError):
    _cls.__module__ = "mproc.futures"
