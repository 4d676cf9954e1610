"""SimpleQueue: the unbounded queue without qsize, bounds or timeouts.

The same packet channels as ``queue.Queue`` (see the package docstring), without
the semaphore that bounds a Queue: ``put`` is one write, ``get`` one read.
"""

from __future__ import annotations

import os
import types
import weakref

from .._runtime.state import register_after_fork
from .._serialize.spawning import assert_spawning
from . import codec
from .awaiting import AsyncSimpleQueue
from .feeding import Sender
from .queue import _adopt_classic, _End, _nothing_to_read, _open_channel, _take, unpack

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Generic, TypeVar
else:
    from .._runtime.generic import Generic, TypeVar

_T = TypeVar("_T")
_encode = codec.encode

__all__ = ["SimpleQueue"]


class SimpleQueue(AsyncSimpleQueue, Generic[_T]):
    """An unbounded queue of items of type ``_T``, without qsize, bounds or timeouts.

    Make one with ``mproc.SimpleQueue()``; annotate it as ``SimpleQueue[int]``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _adopt_classic(cls)

    def __init__(self, *, ctx: Any) -> None:
        self._pipes, self._store = _open_channel()
        self._sender: Sender | None = None
        register_after_fork(self, SimpleQueue._after_fork)

    def __getstate__(self) -> Any:
        assert_spawning(self)
        return (self._pipes, self._store)

    def __setstate__(self, state: Any) -> None:
        self._pipes, self._store = state
        self._sender = None
        register_after_fork(self, SimpleQueue._after_fork)

    def _after_fork(self) -> None:
        if self._sender is not None:
            self._sender.after_fork()
            self._sender = None
        self._store.after_fork()

    @property
    def _reader(self) -> _End:
        return _End(self, "main_r")

    @property
    def _writer(self) -> _End:
        return _End(self, "main_w")

    def close(self) -> None:
        """Release the queue's pipes once what this process put has been written."""
        sender = self._sender
        if sender is not None:
            sender.close()  # closes the channels once pending items are written
        else:
            self._pipes.close()

    def empty(self) -> bool:
        """Whether nothing is waiting to be taken."""
        return _nothing_to_read(self._pipes)

    if TYPE_CHECKING:  # the awaitable twins (awaiting.AsyncSimpleQueue), typed
        async def aget(self) -> _T: ...
        async def aput(self, obj: _T) -> None: ...

    def get(self) -> _T:
        """Remove and return the next item, waiting as long as it takes."""
        return unpack(_take(self._pipes, self._store, True, None), self._store)

    def _get_nowait_item(self) -> _T:
        return unpack(_take(self._pipes, self._store, False, None), self._store)  # or Empty

    def put(self, obj: _T) -> None:
        """Put ``obj`` on the queue (never blocks for long: the queue is unbounded)."""
        packet = _encode(obj, self._store)
        sender = self._sender
        try:
            if sender is None:
                try:
                    os.write(self._pipes.main_w, packet)
                    return
                except BlockingIOError:
                    sender = self._sender = Sender(self._pipes, self._store)
                    weakref.finalize(self, Sender.close, sender).atexit = False
            sender.send(packet)
        except BaseException:
            codec.discard(packet, self._store)
            raise

    __class_getitem__: Any = classmethod(types.GenericAlias)
