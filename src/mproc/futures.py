"""``concurrent.futures`` on mproc: executors whose pools never break.

``import mproc.futures as cf`` gives the names of ``concurrent.futures`` (``wait``,
``as_completed``, ``Future``, the exceptions and constants, which are the stdlib's
own) with mproc's ``ProcessPoolExecutor`` and ``ThreadPoolExecutor``: a worker that
dies fails only its own future (``WorkerLostError``, also a ``BrokenProcessPool``)
and is replaced, ``task_timeout=`` stops a task that overruns, and
``future.cancel(running=True)`` stops one that runs. See ``mproc._futures``.
"""

from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    BrokenExecutor,
    CancelledError,
    Executor,
    InvalidStateError,
    TimeoutError,
    as_completed,
    wait,
)

from ._futures.errors import (
    BrokenThreadPool,
    MaybeEncodingError,
    PoolTerminatedError,
    ResultUnpicklingError,
    StartupError,
    ThreadPoolTerminatedError,
    ThreadStartupError,
    WorkerLostError,
)
from ._futures.executor import ProcessPoolExecutor, ThreadPoolExecutor
from ._futures.future import Future
from .errors import TaskTimeoutError

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "BrokenExecutor",
    "BrokenThreadPool",
    "CancelledError",
    "Executor",
    "Future",
    "InvalidStateError",
    "MaybeEncodingError",
    "PoolTerminatedError",
    "ProcessPoolExecutor",
    "ResultUnpicklingError",
    "StartupError",
    "TaskTimeoutError",
    "ThreadPoolExecutor",
    "ThreadPoolTerminatedError",
    "ThreadStartupError",
    "TimeoutError",
    "WorkerLostError",
    "as_completed",
    "wait",
]
