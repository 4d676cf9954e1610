"""Queue, JoinableQueue and SimpleQueue: the stdlib's API over packet channels.

Taking an item (``get``) is one ``read`` of main in the usual case. When main is
empty the overflow channel is looked at: a SPILL notice found there is used only
if main is *still* empty right after taking it (otherwise the main item is
returned and the notice put back), so items a producer set aside never overtake
the ones it wrote to main before. A batch is consumed one item per ``get``: the
reader re-posts a notice for the rest, so no reader ever holds items that another
reader is waiting for.

``qsize()`` is ``maxsize`` minus the value of the semaphore that bounds the queue.
Where ``sem_getvalue`` does not exist (macOS), a pair of counters in the store's
first page, updated under a lock, stands in for it.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
import types
import weakref
from pickle import loads as _loads
from queue import Empty, Full

from .._runtime.state import register_after_fork
from .._serialize.spawning import assert_spawning
from .._sync.locks import SEM_VALUE_MAX
from . import codec
from .awaiting import AsyncJoinableQueue, AsyncQueue
from .feeding import Sender
from .store import PAGE, Store
from .transport import (
    PACKET_MAX,
    Pipes,
    read_or_none,
    readable_now,
    wait_readable,
    write_blocking,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Generic, TypeVar
else:
    from .._runtime.generic import Generic, TypeVar

_T = TypeVar("_T")

__all__ = ["Queue", "JoinableQueue", "unpack"]

_decode = codec.decode
_encode = codec.encode
_read = os.read
_write = os.write
_PICKLE_MARK = codec.PICKLE_MARK
_SPILL = codec.KIND_SPILL


# -- receiving -------------------------------------------------------------------


def unpack(packet: bytes, store: Store) -> Any:
    """The item a packet carries."""
    if packet[0] == _PICKLE_MARK:
        return _loads(packet)
    return _decode(packet, store)


def _repost(pipes: Pipes, notice: bytes) -> None:
    if pipes.main_w >= 0:
        try:
            os.write(pipes.main_w, notice)
            return
        except BlockingIOError:
            pass
    write_blocking(pipes.over_w, notice)


def _take_slow(pipes: Pipes, block: bool, timeout: float | None) -> bytes:
    """Main was empty: look at the overflow channel, then wait."""
    deadline = None
    if block and timeout is not None:
        deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        notice = read_or_none(pipes.over_r)
        if notice is not None:
            packet = read_or_none(pipes.main_r)
            if packet is None:
                return notice
            _repost(pipes, notice)
            return packet
        if not block:
            raise Empty
        remaining = None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Empty
        pipes.wait_readable(remaining)
        packet = read_or_none(pipes.main_r)
        if packet is not None:
            return packet


def _unspill(pipes: Pipes, store: Store, notice: bytes) -> bytes:
    """The next item of a set-aside batch; the rest is re-posted for any reader."""
    packet, rest = codec.take_from_spill(notice, store)
    if rest is not None:
        _repost(pipes, rest)
    return packet


def _take(pipes: Pipes, store: Store, block: bool, timeout: float | None) -> bytes:
    """The packet of one item (raises queue.Empty)."""
    try:
        packet = _read(pipes.main_r, PACKET_MAX)
        if not packet:
            raise OSError("the queue's channel was closed")
    except BlockingIOError:
        packet = _take_slow(pipes, block, timeout)
    if packet[0] == _SPILL:
        packet = _unspill(pipes, store, packet)
    return packet


# -- qsize where sem_getvalue is missing ----------------------------------------

_COUNTS = struct.Struct("<qq")  # items put, items taken


def _sem_value_works(sem: Any) -> bool:
    try:
        sem.get_value()
    except NotImplementedError:
        return False
    return True



def _nothing_to_read(pipes: Any) -> bool:
    """Whether a queue's channels hold no message right now (OSError once closed)."""
    if pipes.closed:
        raise OSError("handle is closed")
    return not readable_now(pipes.readers())

class _Counts:
    """Put/get counters in the store's first page (never used by any writer window)."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._map: mmap.mmap | None = None

    def __getstate__(self) -> Any:
        return self._lock

    def __setstate__(self, lock: Any) -> None:
        self._lock, self._map = lock, None

    def _mapping(self, store: Store) -> mmap.mmap:
        if self._map is None:
            if os.fstat(store.fd).st_size < PAGE:
                os.ftruncate(store.fd, PAGE)
            self._map = mmap.mmap(store.fd, PAGE)
        return self._map

    def add(self, store: Store, index: int) -> None:
        m = self._mapping(store)
        with self._lock:
            values = list(_COUNTS.unpack_from(m))
            values[index] += 1
            _COUNTS.pack_into(m, 0, *values)

    def size(self, store: Store) -> int:
        with self._lock:
            put, taken = _COUNTS.unpack_from(self._mapping(store))
        return max(0, put - taken)


# -- the stdlib's _reader / _writer ------------------------------------------------


class _End:
    """One side of a queue as a Connection-like object, for code that reaches for
    the stdlib's ``_reader``/``_writer`` (``concurrent.futures`` waits on
    ``SimpleQueue._reader`` and calls its ``recv()``)."""

    __slots__ = ("_queue", "_name")

    def __init__(self, queue: Any, name: str) -> None:
        self._queue = queue
        self._name = name

    @property
    def closed(self) -> bool:
        return bool(getattr(self._queue._pipes, self._name) < 0)

    def fileno(self) -> int:
        fd: int = getattr(self._queue._pipes, self._name)
        if fd < 0:
            raise OSError("handle is closed")
        return fd

    def poll(self, timeout: float | None = 0.0) -> bool:
        pipes = self._queue._pipes
        if pipes.closed:
            raise OSError("handle is closed")
        return wait_readable(pipes.readers(), timeout)

    def recv(self) -> Any:
        packet = _take(self._queue._pipes, self._queue._store, True, None)
        if packet[0] == _PICKLE_MARK:
            return _loads(packet)
        return _decode(packet, self._queue._store)

    def send(self, obj: Any) -> None:
        self._queue.put(obj)

    def close(self) -> None:
        """Close this one fd, as closing one end of a Pipe does (a pool worker
        closes the ends it does not use)."""
        pipes = self._queue._pipes
        fd = getattr(pipes, self._name)
        if fd >= 0:
            setattr(pipes, self._name, -1)
            os.close(fd)


def _adopt_classic(cls: type) -> None:
    """A subclass written against the stdlib's private queue layout (loky's) is
    rebased onto a stdlib-shaped class; see ``classic.py``."""
    if cls.__module__ != __name__ and "_mproc_classic" not in cls.__dict__:
        from .classic import adopt

        adopt(cls)


# -- the queues -----------------------------------------------------------------


def _open_channel() -> tuple[Pipes, Store]:
    """A new queue's pipes and store (nothing left open if either fails)."""
    pipes = Pipes.create()
    try:
        return pipes, Store.create()
    except BaseException:
        pipes.close()
        raise


class Queue(AsyncQueue, Generic[_T]):
    """A process-shared FIFO queue (``multiprocessing.Queue``) of items of type ``_T``.

    Make one with ``mproc.Queue(maxsize)`` (or a context's ``Queue``); annotate it
    as ``Queue[int]`` to type its items. ``put`` raises pickling errors in the caller;
    ``get`` raises ``queue.Empty`` on timeout, ``put`` ``queue.Full``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _adopt_classic(cls)

    def __init__(self, maxsize: int = 0, *, ctx: Any) -> None:
        if maxsize <= 0:
            maxsize = SEM_VALUE_MAX
        self._maxsize = maxsize
        self._ignore_epipe = False
        self._pipes, self._store = _open_channel()
        self._sem = ctx.BoundedSemaphore(maxsize)
        self._counts = None if _sem_value_works(self._sem) else _Counts(ctx.Lock())
        self._reset()
        register_after_fork(self, Queue._after_fork)

    def __getstate__(self) -> Any:
        assert_spawning(self)
        return (self._ignore_epipe, self._maxsize, self._pipes, self._store, self._sem,
                self._counts)

    def __setstate__(self, state: Any) -> None:
        (self._ignore_epipe, self._maxsize, self._pipes, self._store, self._sem,
         self._counts) = state
        self._reset()
        register_after_fork(self, Queue._after_fork)

    def _after_fork(self) -> None:
        if self._sender is not None:
            self._sender.after_fork()
        self._store.after_fork()
        self._reset()

    def _reset(self) -> None:
        self._sem_acquire = self._sem.acquire
        self._sem_release = self._sem.release
        self._closed = False
        self._used = False  # put() was called here (close() then releases the fds)
        self._joincancelled = False
        self._sender: Sender | None = None

    def _make_sender(self) -> Sender:
        sender = self._sender = Sender(self._pipes, self._store)
        if self._joincancelled:
            sender.cancel()
        finalizer = weakref.finalize(self, Sender.close, sender)
        finalizer.atexit = False  # the exit hook in feeding.py handles exit
        return sender

    # -- put ---------------------------------------------------------------------

    def _pack(self, obj: Any, block: bool, timeout: float | None) -> bytes | None:
        """Encode ``obj``, then take a slot; None if a feeder-error hook took it.

        Encoding first keeps the time a slot is held before the item is in the
        channel to a system call: a process killed while encoding a big object
        leaks no slot of a bounded queue.
        """
        packet = self._encoded(obj)
        if packet is not None and not self._sem_acquire(block, timeout):
            self._discard(packet)
            raise Full
        return packet

    def _encoded(self, obj: Any) -> bytes | None:
        """``obj`` as a packet (None if a feeder-error hook took the failure)."""
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        try:
            return _encode(obj, self._store)
        except Exception as exc:
            if type(self)._on_queue_feeder_error is not Queue._on_queue_feeder_error:
                try:
                    self._on_queue_feeder_error(exc, obj)  # the stdlib's hook, if overridden
                finally:
                    # The stdlib raises this in its feeder thread; raised here, its
                    # traceback would keep the caller's frames (and the thread running
                    # them) alive for as long as the hook keeps the error (a Future).
                    exc.__traceback__ = None
                return None
            raise

    def _discard(self, packet: bytes) -> None:
        """Free what an unsent packet holds (its shared-memory region, if any)."""
        if packet[0] != _PICKLE_MARK:
            codec.discard(packet, self._store)

    def _commit(self, packet: bytes) -> None:
        """Send a packet whose slot is taken (JoinableQueue: counted as a task too)."""
        self._send(packet)

    def _send(self, packet: bytes) -> None:
        self._used = True
        sender = self._sender
        try:
            if sender is None:
                # Straight into the channel; a sender (and its feeder) only comes
                # into being the first time the channel is full.
                try:
                    os.write(self._pipes.main_w, packet)
                except BlockingIOError:
                    sender = self._make_sender()
                    sender.send(packet)
            else:
                sender.send(packet)
        except BaseException:
            codec.discard(packet, self._store)
            self._sem_release()
            raise
        if self._counts is not None:
            self._counts.add(self._store, 0)

    def put(self, obj: _T, block: bool = True, timeout: float | None = None) -> None:
        """Put ``obj`` on the queue; pickling errors are raised here, in the caller.

        If the queue is full, wait (up to ``timeout`` seconds) unless ``block`` is
        false; then raise ``queue.Full``.
        """
        packet = self._pack(obj, block, timeout)
        if packet is None:
            return
        if self._sender is None and self._counts is None:
            try:  # the usual case, inlined: one write
                _write(self._pipes.main_w, packet)
                self._used = True
                return
            except BlockingIOError:
                pass
            except BaseException:
                codec.discard(packet, self._store)
                self._sem_release()
                raise
        self._send(packet)

    def put_nowait(self, obj: _T) -> None:
        """``put(obj, False)``: raise ``queue.Full`` rather than wait."""
        self.put(obj, False)

    # -- get ---------------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        """Remove and return the next item, waiting up to ``timeout`` seconds if empty.

        Raises ``queue.Empty`` when nothing came in time (at once if not ``block``).
        """
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        pipes = self._pipes
        try:
            packet = _read(pipes.main_r, PACKET_MAX)
        except BlockingIOError:
            packet = _take_slow(pipes, block, timeout)
        else:
            if not packet:
                raise OSError("the queue's channel was closed")
        if packet[0] == _SPILL:
            packet = _unspill(pipes, self._store, packet)
        self._sem_release()
        if self._counts is not None:
            self._counts.add(self._store, 1)
        return unpack(packet, self._store)

    def get_nowait(self) -> _T:
        """``get(False)``: raise ``queue.Empty`` rather than wait."""
        return self.get(False)

    if TYPE_CHECKING:  # the awaitable twins (awaiting.AsyncQueue), typed by the item
        async def aget(self, timeout: float | None = None) -> _T: ...
        async def aput(self, obj: _T, timeout: float | None = None) -> None: ...

    # -- state -------------------------------------------------------------------

    def qsize(self) -> int:
        """Items put and not yet taken (approximate while others are busy)."""
        if self._counts is not None:
            return self._counts.size(self._store)
        return self._maxsize - self._sem.get_value()  # type: ignore[no-any-return]

    def empty(self) -> bool:
        """Whether nothing is waiting to be taken (approximate while others are busy)."""
        return _nothing_to_read(self._pipes)

    def full(self) -> bool:
        """Whether ``maxsize`` items are in the queue (approximate)."""
        return self._sem._semlock._is_zero()  # type: ignore[no-any-return]

    # -- ending ------------------------------------------------------------------

    def close(self) -> None:
        """No more puts from this process; what was put is still delivered."""
        self._closed = True
        if self._sender is not None:
            self._sender.close()
        elif self._used:
            self._store.drop_cache()
            self._pipes.close()

    def join_thread(self) -> None:
        """Finish this process's sending: after this, nothing put here is pending.

        Unlike the stdlib this never waits for a reader: items that do not fit in
        the channel are set aside in the store and delivered from there.
        """
        assert self._closed, f"Queue {self!r} not closed"
        sender = self._sender
        if sender is not None and not self._joincancelled:
            sender.finish(spill=True)
            sender.join()

    def cancel_join_thread(self) -> None:
        """Let the process exit without delivering what is still pending."""
        self._joincancelled = True
        if self._sender is not None:
            self._sender.cancel()

    # -- the stdlib's private surface, for code built on it ------------------------

    @property
    def _reader(self) -> _End:
        """The read side as a Connection-like object (``concurrent.futures``
        closes it when its workers are gone)."""
        return _End(self, "main_r")

    @property
    def _writer(self) -> _End:
        return _End(self, "main_w")

    def _terminate_broken(self) -> None:
        """Every reader is gone (the stdlib's name; ``concurrent.futures`` calls it
        when its pool breaks): drop what is still pending and close, waiting for
        nobody."""
        self._reader.close()
        self.cancel_join_thread()
        self.close()
        self.join_thread()

    @staticmethod
    def _on_queue_feeder_error(e: BaseException, obj: Any) -> None:
        """The stdlib's hook. mproc raises pickling errors in ``put()`` instead;
        a subclass that overrides this gets the stdlib's behaviour back."""
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)

    __class_getitem__: Any = classmethod(types.GenericAlias)


class JoinableQueue(AsyncJoinableQueue, Queue[_T]):
    """A Queue whose consumers report each item done (``task_done``/``join``)."""

    def __init__(self, maxsize: int = 0, *, ctx: Any) -> None:
        Queue.__init__(self, maxsize, ctx=ctx)
        self._unfinished_tasks = ctx.Semaphore(0)
        self._cond = ctx.Condition()

    def __getstate__(self) -> Any:
        return Queue.__getstate__(self) + (self._cond, self._unfinished_tasks)

    def __setstate__(self, state: Any) -> None:
        Queue.__setstate__(self, state[:-2])
        self._cond, self._unfinished_tasks = state[-2:]

    def put(self, obj: _T, block: bool = True, timeout: float | None = None) -> None:
        """Put ``obj`` on the queue and count it as a task not yet done."""
        packet = self._pack(obj, block, timeout)
        if packet is not None:
            self._commit(packet)

    def _commit(self, packet: bytes) -> None:
        self._unfinished_tasks.release()  # counted before any consumer can see it
        try:
            self._send(packet)
        except BaseException:
            self._unfinished_tasks.acquire(False)
            raise

    def task_done(self) -> None:
        """Mark one item taken with ``get`` as processed (ValueError if none is left)."""
        with self._cond:
            if not self._unfinished_tasks.acquire(False):
                raise ValueError("task_done() called too many times")
            if self._unfinished_tasks._semlock._is_zero():
                self._cond.notify_all()

    def join(self) -> None:
        """Wait until every item put has been marked done."""
        with self._cond:
            while not self._unfinished_tasks._semlock._is_zero():
                self._cond.wait()
