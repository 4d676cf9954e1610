"""Stdlib-shaped queue bases, for subclasses written against the stdlib's internals.

Why this exists
---------------
mproc's ``Queue`` and ``SimpleQueue`` (``queue.py``) are packet pipes plus a memfd
store; ``put()`` writes in the caller and a feeder exists only while the channel
is full. Some libraries subclass ``multiprocessing.queues.Queue``/``SimpleQueue``
and override the stdlib's *private* protocol: loky (joblib's executor) replaces
``_start_thread`` and ``_feed`` to pickle with its own reducers, assigns
``_reader``/``_writer``/``_rlock``/``_wlock``/``_sem``/``_opid`` in
``__setstate__``, and writes pickled bytes with ``_writer.send_bytes``. Such a
subclass cannot run on mproc's design: the attributes it sets and the methods it
overrides do not exist there.

So a subclass of mproc's Queue, JoinableQueue or SimpleQueue whose own methods
name one of those private attributes is rebased, when its class is created, onto
the matching class here (``adopt``, called from ``__init_subclass__`` in
``queue.py``). These classes are still subclasses of mproc's (``isinstance``
holds) but override the whole API with the stdlib's *shape*, written for mproc:

* ``_reader``/``_writer``: a one-way mproc Pipe. The read end is a
  ``SharedReader``, which never reads past the message it is asked for, since
  several processes read the same pipe (taking turns under ``_rlock``);
* ``put()`` appends to a deque ``_buffer`` under a Condition ``_notempty``; a
  feeder thread (``_start_thread``/``_feed``) pickles and writes under ``_wlock``;
  its errors go to ``_on_queue_feeder_error``, as the stdlib's do;
* ``get()`` takes ``_rlock``, ``_recv_bytes()`` and unpickles;
* ``close()``/``join_thread()``/``cancel_join_thread()`` through finalizers
  (``_close`` sends ``_sentinel`` to the feeder, ``_jointhread`` waits for it).

What they give up against mproc's own queues: pickling errors surface in the
feeder thread, a writer killed mid-message can tear the stream, and large items
are copied through the pipe. That is the stdlib's contract, which such a subclass
was written for.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
import time
import weakref
from queue import Empty, Full

from .._runtime import log
from .._runtime.finalize import Finalize, is_exiting
from .._runtime.state import register_after_fork
from .._serialize.fds import DupFd
from .._serialize.pickler import dumps, loads
from .._serialize.spawning import assert_spawning
from .._sync.locks import SEM_VALUE_MAX
from .._wire.connection import Connection
from .._wire.pipes import _grow_pipe
from .queue import JoinableQueue, Queue
from .simple import SimpleQueue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ClassicQueue", "ClassicJoinableQueue", "ClassicSimpleQueue", "SharedReader",
    "adopt", "_sentinel",
]

#: What ``_finalize_close`` puts in the buffer to stop the feeder (stdlib name).
_sentinel = object()

# The stdlib's private queue attributes. A subclass whose methods name one of
# them was written against the stdlib's layout and is given a classic base.
STDLIB_PRIVATE = frozenset({
    "_reader", "_writer", "_rlock", "_wlock", "_buffer", "_notempty", "_send_bytes",
    "_recv_bytes", "_poll", "_feed", "_start_thread", "_thread", "_jointhread",
    "_opid", "_close", "_finalize_join", "_finalize_close",
})


# -- the pipe -------------------------------------------------------------------


class SharedReader(Connection):
    """The read end of a pipe that several processes read, one message at a time.

    mproc's Connection reads ahead to save system calls; on a pipe with several
    readers the bytes read ahead would belong to someone else's message. This
    one asks the kernel for exactly the bytes the current frame still needs.
    """

    _reads_ahead = False

    def _fill(self, want: int, chunk_size: int = 0) -> None:
        buf = self._rbuf
        if self._rpos and self._rpos == len(buf):
            buf.clear()
            self._rpos = 0
        while len(buf) - self._rpos < want:
            chunk = bytearray(want - (len(buf) - self._rpos))
            n = self._raw_readinto(memoryview(chunk))
            if not n:
                if len(buf) - self._rpos:
                    raise EOFError("connection closed in the middle of a message")
                raise EOFError
            buf += chunk[:n]

    def __reduce__(self) -> Any:
        # Exact-type reducer tables (mproc's, loky's) do not see this subclass.
        return _rebuild_reader, (DupFd(self.fileno()),)


def _rebuild_reader(dupfd: Any) -> SharedReader:
    return SharedReader(dupfd.detach(), writable=False)


def _one_way_pipe() -> tuple[SharedReader, Connection]:
    read_fd, write_fd = os.pipe()
    _grow_pipe(write_fd)
    return SharedReader(read_fd, writable=False), Connection(write_fd, readable=False)


# -- Queue ----------------------------------------------------------------------


class ClassicQueue(Queue):
    """``multiprocessing.queues.Queue`` with the stdlib's internal layout."""

    _mproc_classic = True
    # Plain class attributes shadow the base's read-only properties, so that the
    # instance attributes set in __init__/__setstate__ are the ones seen.
    _reader: Any = None  # type: ignore[assignment]
    _writer: Any = None  # type: ignore[assignment]

    def __init__(self, maxsize: int = 0, *, ctx: Any) -> None:
        if maxsize <= 0:
            maxsize = SEM_VALUE_MAX
        self._maxsize = maxsize
        self._reader, self._writer = _one_way_pipe()
        self._rlock = ctx.Lock()
        self._opid = os.getpid()
        self._wlock = None if sys.platform == "win32" else ctx.Lock()
        self._sem = ctx.BoundedSemaphore(maxsize)
        self._ignore_epipe = False
        self._reset()
        register_after_fork(self, ClassicQueue._after_fork)

    def __getstate__(self) -> Any:
        assert_spawning(self)
        return (self._ignore_epipe, self._maxsize, self._reader, self._writer,
                self._rlock, self._wlock, self._sem, self._opid)

    def __setstate__(self, state: Any) -> None:
        (self._ignore_epipe, self._maxsize, self._reader, self._writer,
         self._rlock, self._wlock, self._sem, self._opid) = state
        self._reset()

    def _after_fork(self) -> None:
        log.debug("Queue._after_fork()")
        self._reset()

    def _reset(self) -> None:
        self._notempty = threading.Condition(threading.Lock())
        self._buffer: collections.deque[Any] = collections.deque()
        self._thread: threading.Thread | None = None
        self._jointhread: Finalize | None = None
        self._joincancelled = False
        self._closed = False
        self._close: Finalize | None = None
        self._send_bytes = self._writer.send_bytes
        self._recv_bytes = self._reader.recv_bytes
        self._poll = self._reader.poll

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        if not self._sem.acquire(block, timeout):
            raise Full
        self._counted(obj)
        with self._notempty:
            if self._thread is None:
                self._start_thread()
            self._buffer.append(obj)
            self._notempty.notify()

    def _counted(self, obj: Any) -> None:
        """Called once a slot is taken, before ``obj`` is visible to the feeder."""

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        if block and timeout is None:
            with self._rlock:
                data = self._recv_bytes()
            self._sem.release()
            return loads(data)
        deadline = None if not block else time.monotonic() + max(timeout or 0.0, 0.0)
        if not self._rlock.acquire(block, timeout):
            raise Empty
        try:
            remaining = 0.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not self._poll(remaining):
                raise Empty
            data = self._recv_bytes()
            self._sem.release()
        finally:
            self._rlock.release()
        return loads(data)

    def qsize(self) -> int:
        return self._maxsize - self._sem._semlock._get_value()  # type: ignore[no-any-return]

    def empty(self) -> bool:
        return not self._poll()

    def full(self) -> bool:
        return self._sem._semlock._is_zero()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._closed = True
        close = self._close
        if close is not None:
            self._close = None
            close()

    def join_thread(self) -> None:
        log.debug("Queue.join_thread()")
        assert self._closed, f"Queue {self!r} not closed"
        if self._jointhread is not None:
            self._jointhread()

    def cancel_join_thread(self) -> None:
        log.debug("Queue.cancel_join_thread()")
        self._joincancelled = True
        if self._jointhread is not None:
            self._jointhread.cancel()

    def _terminate_broken(self) -> None:
        # Every reader is gone: whatever is buffered can never be delivered.
        self._reader.close()
        self.close()
        self.join_thread()

    def _start_thread(self) -> None:
        """Start the feeder; close and exit hooks as finalizers (the stdlib's protocol)."""
        self._buffer.clear()
        self._thread = threading.Thread(
            target=type(self)._feed,
            args=(self._buffer, self._notempty, self._send_bytes, self._wlock,
                  self._writer.close, self._ignore_epipe, self._on_queue_feeder_error,
                  self._sem),
            name="QueueFeederThread", daemon=True,
        )
        self._thread.start()
        # A child waits, at exit, for what it put to be written; the creator need
        # not: every reader is one of its descendants, joined by then.
        if not self._joincancelled and self._opid != os.getpid():
            self._jointhread = Finalize(self._thread, ClassicQueue._finalize_join,
                                        [weakref.ref(self._thread)], exitpriority=-5)
        self._close = Finalize(self, ClassicQueue._finalize_close,
                               [self._buffer, self._notempty], exitpriority=10)

    @staticmethod
    def _finalize_join(twr: Any) -> None:
        thread = twr()
        if thread is not None:
            thread.join()

    @staticmethod
    def _finalize_close(buffer: Any, notempty: Any) -> None:
        with notempty:
            buffer.append(_sentinel)
            notempty.notify()

    @staticmethod
    def _feed(buffer: Any, notempty: Any, send_bytes: Any, writelock: Any, close: Any,
              ignore_epipe: bool, onerror: Any, queue_sem: Any) -> None:
        """The feeder thread: take everything buffered at once, pickle and write it
        item by item; the close finalizer's ``_sentinel`` ends it."""
        lock = writelock if writelock is not None else contextlib.nullcontext()
        while True:
            with notempty:
                notempty.wait_for(lambda: buffer)
                batch = list(buffer)
                buffer.clear()
            for obj in batch:
                if obj is _sentinel:
                    close()
                    return
                try:
                    data = dumps(obj)
                    with lock:
                        send_bytes(data)
                except BaseException as exc:
                    if ignore_epipe and isinstance(exc, BrokenPipeError):
                        return
                    if is_exiting():  # the interpreter is tearing down what we use
                        log.info("error in queue thread: %s", exc)
                        return
                    queue_sem.release()  # the item never reached the channel
                    onerror(exc, obj)

    @staticmethod
    def _on_queue_feeder_error(e: BaseException, obj: Any) -> None:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)


class ClassicJoinableQueue(ClassicQueue, JoinableQueue):
    """``JoinableQueue`` with the stdlib's internal layout."""

    _mproc_classic = True

    def __init__(self, maxsize: int = 0, *, ctx: Any) -> None:
        ClassicQueue.__init__(self, maxsize, ctx=ctx)
        self._unfinished_tasks = ctx.Semaphore(0)
        self._cond = ctx.Condition()

    def __getstate__(self) -> Any:
        return ClassicQueue.__getstate__(self) + (self._cond, self._unfinished_tasks)

    def __setstate__(self, state: Any) -> None:
        ClassicQueue.__setstate__(self, state[:-2])
        self._cond, self._unfinished_tasks = state[-2:]

    def _counted(self, obj: Any) -> None:
        # counted before any consumer can take it, so join() never returns early
        self._unfinished_tasks.release()


# -- SimpleQueue ----------------------------------------------------------------


class ClassicSimpleQueue(SimpleQueue):
    """``multiprocessing.queues.SimpleQueue`` with the stdlib's internal layout."""

    _mproc_classic = True
    _reader: Any = None  # type: ignore[assignment]
    _writer: Any = None  # type: ignore[assignment]

    def __init__(self, *, ctx: Any) -> None:
        self._reader, self._writer = _one_way_pipe()
        self._rlock = ctx.Lock()
        self._poll = self._reader.poll
        self._wlock = None if sys.platform == "win32" else ctx.Lock()

    def __getstate__(self) -> Any:
        assert_spawning(self)
        return (self._reader, self._writer, self._rlock, self._wlock)

    def __setstate__(self, state: Any) -> None:
        (self._reader, self._writer, self._rlock, self._wlock) = state
        self._poll = self._reader.poll

    def close(self) -> None:
        self._reader.close()
        self._writer.close()

    def empty(self) -> bool:
        return not self._reader.poll()

    def get(self) -> Any:
        with self._rlock:
            data = self._reader.recv_bytes()
        return loads(data)

    def put(self, obj: Any) -> None:
        data = dumps(obj)
        if self._wlock is None:
            self._writer.send_bytes(data)
        else:
            with self._wlock:
                self._writer.send_bytes(data)


# -- choosing the base ------------------------------------------------------------


_CLASSIC: dict[type, type] = {
    Queue: ClassicQueue,
    JoinableQueue: ClassicJoinableQueue,
    SimpleQueue: ClassicSimpleQueue,
}


def _names_used(cls: type) -> set[str]:
    """Attribute and global names the code of ``cls``'s own methods mentions."""
    names: set[str] = set()
    stack: list[Any] = []
    for value in vars(cls).values():
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            stack.extend(f.__code__ for f in (value.fget, value.fset, value.fdel) if f)
        elif hasattr(value, "__code__"):
            stack.append(value.__code__)
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    names.update(n for n in vars(cls) if isinstance(n, str))
    return names


def adopt(cls: type) -> None:
    """Rebase ``cls`` onto a classic class if its code uses the stdlib's internals."""
    if any(getattr(base, "_mproc_classic", False) for base in cls.__mro__[1:]):
        return  # already stdlib-shaped through a base
    if not (_names_used(cls) & STDLIB_PRIVATE):
        return
    bases = tuple(_CLASSIC.get(base, base) for base in cls.__bases__)
    if bases == cls.__bases__:
        raise TypeError(
            f"{cls.__qualname__} uses the stdlib queue internals "
            f"({', '.join(sorted(_names_used(cls) & STDLIB_PRIVATE))}) but derives from "
            "mproc's queue through another class; derive it from "
            "multiprocessing.queues.Queue, JoinableQueue or SimpleQueue directly"
        )
    log.debug("queue subclass %s uses the stdlib's internals: classic base", cls.__qualname__)
    cls.__bases__ = bases
