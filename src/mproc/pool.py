"""Process and thread pools (stdlib ``multiprocessing.pool``).

Beyond the stdlib: a pool never hangs. A worker that dies fails the task it was
running with ``mproc.errors.WorkerLostError`` and is replaced; ``timeout=`` limits
each task (``TaskTimeoutError``); ``progress=`` reports progress; ``imap`` consumes
its input lazily. See ``mproc._pool`` for the design.
"""

from . import connection, util  # the stdlib's package has these after this import
from ._pool.front import CLOSE, INIT, RUN, TERMINATE, Pool, ThreadPool
from ._pool.results import (
    ApplyResult,
    AsyncResult,
    IMapIterator,
    IMapUnorderedIterator,
    MapResult,
)
from .errors import MaybeEncodingError, RemoteTraceback, TimeoutError

__all__ = [
    "Pool",
    "ThreadPool",
    "AsyncResult",
    "ApplyResult",
    "MapResult",
    "IMapIterator",
    "IMapUnorderedIterator",
    "RemoteTraceback",
    "MaybeEncodingError",
    "INIT",
    "RUN",
    "CLOSE",
    "TERMINATE",
]
