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
    +-- RuntimeError
    |   +-- BootstrapError                (a process started during its parent's bootstrap)
    +-- OSError
        +-- MessageTooLargeError          (a frame announced more than the size limit)

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
    "StartupError",
    "BootstrapError",
    "MessageTooLargeError",
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


class StartupError(ProcessError):
    """Child processes keep dying before they can do any work (initializer, import)."""


class BootstrapError(RuntimeError):
    """A process was started while the current process was still bootstrapping.

    This is the classic missing ``if __name__ == "__main__":`` guard under the
    spawn and forkserver start methods, which re-import the main module.
    """


class MessageTooLargeError(OSError):
    """A peer announced a message larger than the connection's size limit."""
