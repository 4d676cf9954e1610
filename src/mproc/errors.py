"""Every exception mproc raises, in one place.

The stdlib's types are kept wherever CPython raises them, so existing ``except``
clauses keep working; failure modes the stdlib does not have get subclasses of the
closest stdlib-compatible base, with messages that say what happened, to what, and
what to do::

    Exception
    +-- ProcessError                      (multiprocessing.ProcessError)
    |   +-- BufferTooShort                (recv_bytes_into: .args[0] is the whole message)
    |   +-- TimeoutError                  (AsyncResult.get, manager calls)
    |   |   +-- TaskTimeoutError          (a pool task exceeded its per-task timeout)
    |   +-- AuthenticationError           (HMAC challenge failed, either side)
    |   +-- WorkerLostError               (a pool worker died while holding a task)
    |   +-- StartupError                  (children die at start-up every time)
    |   +-- PoolTerminatedError           (the pool was terminated before the task ran)
    +-- MaybeEncodingError                (multiprocessing.pool: a result did not pickle)
    |   +-- ResultUnpicklingError         (a result or exception did not unpickle in the parent)
    +-- RemoteTraceback                   (multiprocessing.pool: a worker's traceback, as text;
    |                                      set as ``__cause__`` of the re-raised exception)
    +-- RuntimeError
    |   +-- BootstrapError                (a process started during its parent's bootstrap)
    +-- OSError
        +-- MessageTooLargeError          (a frame announced more than the size limit)
        +-- ConnectionError
            +-- ClusterConnectionError    (a Dask scheduler could not be reached or has no
                                           workers: Pool(backend="dask"))

``queue.Empty`` / ``queue.Full``, ``EOFError``, ``ValueError`` and ``pickle`` errors
are raised as is.
"""

from __future__ import annotations

__all__ = [
    "ProcessError",
    "BufferTooShort",
    "TimeoutError",
    "AuthenticationError",
    "TaskTimeoutError",
    "WorkerLostError",
    "MemoryLimitError",
    "StartupError",
    "PoolTerminatedError",
    "MaybeEncodingError",
    "ResultUnpicklingError",
    "RemoteTraceback",
    "BootstrapError",
    "MessageTooLargeError",
    "ClusterConnectionError",
]


class ProcessError(Exception):
    """Base of the errors that are specific to process-based concurrency."""


class BufferTooShort(ProcessError):
    """``recv_bytes_into`` got a message larger than the buffer; ``args[0]`` holds it."""


class TimeoutError(ProcessError):  # noqa: A001 - the stdlib's name, kept on purpose
    """An operation with a timeout did not finish in time."""


class AuthenticationError(ProcessError):
    """The peer did not prove it holds the same authkey (or did not answer in time)."""


class TaskTimeoutError(TimeoutError):
    """A pool task ran longer than its per-task ``timeout``; its worker was killed."""


class WorkerLostError(ProcessError):
    """A pool worker died (signal, ``os._exit``, crash) while it was running a task."""


class MemoryLimitError(MemoryError):
    """A pool task took its worker's resident memory past the ``memory_limit`` it was
    given; the worker was killed at once (and replaced). ``task``, ``limit`` and
    ``peak`` (bytes) and ``pid`` say which, and how far it went."""


class StartupError(ProcessError):
    """Child processes keep dying before they can do any work (initializer, import)."""


class PoolTerminatedError(ProcessError):
    """The pool was terminated (``terminate()``, leaving its ``with`` block, Ctrl-C)
    before this task finished, so it will never produce a result."""


class MaybeEncodingError(Exception):
    """A task's result (or exception) could not be pickled in the worker.

    ``exc`` and ``value`` are the ``repr()`` of the pickling error and of the object
    that failed, as in the stdlib; the worker survives and runs the next task.
    """

    def __init__(self, exc: object, value: object) -> None:
        self.exc: str = repr(exc)
        self.value: str = repr(value)
        super().__init__(self.exc, self.value)

    def __str__(self) -> str:
        return f"Error sending result: '{self.value}'. Reason: '{self.exc}'"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuild from the stored strings (the stdlib repr()s them a second time).
        return _rebuild_encoding_error, (type(self), self.exc, self.value, self.__dict__)


class ResultUnpicklingError(MaybeEncodingError):
    """A task's result or exception reached the parent but could not be unpickled.

    Typical causes: an exception class whose ``__init__`` needs other arguments than
    the ones it passes to ``Exception.__init__``, or a class that exists only in the
    worker. ``exc`` names the unpickling error, ``value`` the task; the worker's
    traceback (when the task raised) is this error's ``__cause__``.
    """

    def __init__(self, exc: str, value: str) -> None:
        self.exc = exc
        self.value = value
        Exception.__init__(self, exc, value)

    def __str__(self) -> str:
        return f"could not unpickle {self.value} in the parent: {self.exc}"


def _rebuild_encoding_error(cls: type[MaybeEncodingError], exc: str, value: str,
                            state: dict[str, object]) -> MaybeEncodingError:
    error = cls.__new__(cls)
    Exception.__init__(error, exc, value)
    error.__dict__.update(state)
    return error


class RemoteTraceback(Exception):
    """The formatted traceback of an exception raised in another process.

    It is set as the ``__cause__`` of the exception re-raised locally, so a printed
    traceback shows where the error happened in the worker, then where it surfaced.
    """

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class BootstrapError(RuntimeError):
    """A process was started while the current process was still bootstrapping.

    This is the classic missing ``if __name__ == "__main__":`` guard under the
    spawn and forkserver start methods, which re-import the main module.
    """


class MessageTooLargeError(OSError):
    """A peer announced a message larger than the connection's size limit."""


class ClusterConnectionError(ConnectionError):
    """A ``Pool(backend="dask")`` could not use its cluster: the scheduler did not
    answer within the connect timeout, or no worker joined it in time."""
