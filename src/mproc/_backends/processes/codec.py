"""The pool's wire format, and the pickling path that parent and workers share.

Each worker has two one-way pipes. Every message is one Connection frame (4-byte
big-endian length, payload) whose payload starts with a one-byte kind and a fixed
little-endian header, followed by a pickle::

    parent -> worker                      worker -> parent
      F fid       + function pickle         R pid                  ready (initializer ran)
      D fid                    forget it    S tid item             item started (timed tasks)
      T tid fid mode flags + args pickle    O tid flags + result pickle
      Q                        exit         E tid phase tblen + traceback text + exception
                                            I tblen + traceback text + exception  (initializer)

Functions travel once per worker (``fid``), not once per task: the parent mirrors
which fids each worker holds. Arguments and results are pickled per *task* (a chunk
of items, as the stdlib counts them), so one that fails to pickle or unpickle fails
that task only. An error message carries the traceback as text beside the pickled
exception, so the parent can still say what happened when the exception itself
cannot be unpickled.

Pickling reuses one pickler per thread (creating a ``Pickler`` costs four times
more than a small ``dump``) and, with ``OOB`` set, moves large protocol-5 buffers
through shared memory (``buffers``).

A Pool subclass may ask for its own reducers (``Reducers``: joblib's MemmappingPool
turns large numpy arrays into memmap references). Those messages get a fresh pickler
whose dispatch table is the usual one plus the extra reducers, never the reused one,
so a reducer meant for one pool cannot leak into another pool's messages.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import struct
import threading
import types

from ..._serialize import pickler as _pickler
from . import buffers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = [
    "FUNC", "DROP", "TASK", "QUIT", "CANCEL", "READY", "START", "OK", "ERROR", "INIT_FAILED",
    "SKIPPED", "APPLY", "MAP", "STARMAP", "TIMED", "OOB", "CANCELLABLE", "KEEP", "TID_HEAD",
    "PHASE_RUN", "PHASE_ARGS", "PHASE_FUNC", "PHASE_RESULT",
    "TASK_HEAD", "FUNC_HEAD", "START_HEAD", "RESULT_HEAD", "ERROR_HEAD", "READY_HEAD",
    "frame_header", "encode", "decode", "loads", "Reducers",
]

# Message kinds (first payload byte).
FUNC, DROP, TASK, QUIT, CANCEL = b"F", b"D", b"T", b"Q", b"C"
READY, START, OK, ERROR, INIT_FAILED, SKIPPED = b"R", b"S", b"O", b"E", b"I", b"K"

# Task modes: how the worker calls the function on the task's payload.
APPLY, MAP, STARMAP = 0, 1, 2  # == backend.APPLY, MAP, STARMAP
# Flags.
TIMED = 1  # send START before each item (the parent times it)
OOB = 2  # the payload is preceded by a table of shared-memory buffers
# Its job may cancel it: before starting it, the worker reads the frames already sent
# (a CANCEL for it among them: the worker answers SKIPPED instead of running it).
CANCELLABLE = 4
# The payload's shared memory outlives this read: the parent may send the task again
# (``retries=``), and removes the segments itself once the task is answered.
KEEP = 8

# Where an error happened (ERROR messages).
PHASE_RUN, PHASE_ARGS, PHASE_FUNC, PHASE_RESULT = 0, 1, 2, 3

TASK_HEAD = struct.Struct("<cQIBB")  # kind, tid, fid, mode, flags
FUNC_HEAD = struct.Struct("<cI")  # kind, fid (FUNC, DROP)
START_HEAD = struct.Struct("<cQI")  # kind, tid, item index in the task
RESULT_HEAD = struct.Struct("<cQB")  # kind, tid, flags
ERROR_HEAD = struct.Struct("<cQBI")  # kind, tid, phase, traceback length
READY_HEAD = struct.Struct("<ci")  # kind, pid
TID_HEAD = struct.Struct("<cQ")  # kind, tid (CANCEL, SKIPPED)
_TABLE_LEN = struct.Struct("<I")
_FRAME = struct.Struct("!I")
_LONG_FRAME = struct.Struct("!IQ")
_LONG_MARK = 0xFFFFFFFF

loads = pickle.loads


def frame_header(size: int) -> bytes:
    """The Connection framing for a payload of ``size`` bytes."""
    if size < _LONG_MARK:
        return _FRAME.pack(size)
    return _LONG_FRAME.pack(_LONG_MARK, size)


def _in_band(buffer: pickle.PickleBuffer, big: list[pickle.PickleBuffer]) -> bool:
    """buffer_callback: False (out of band, appended to ``big``) for large buffers."""
    try:
        with buffer.raw() as raw:
            size = raw.nbytes
    except BufferError:
        return True
    if size < buffers.THRESHOLD:
        return True
    big.append(buffer)
    return False


class Reducers:
    """Reducers a Pool subclass asked for, ``{type: reduce(obj) -> (callable, args)}``
    (as in ``copyreg``), applied over the dispatch table every message uses.

    Pickled (to reach a spawned worker) as its mapping alone.
    """

    __slots__ = ("extra", "_base", "_size", "_table")

    def __init__(self, extra: Mapping[type, Callable[[Any], Any]]) -> None:
        self.extra = dict(extra)
        self._base: dict[Any, Any] | None = None
        self._size = -1
        self._table: dict[Any, Any] = {}

    def table(self, base: dict[Any, Any]) -> dict[Any, Any]:
        """``base`` (a pickler's dispatch table) with the extra reducers on top."""
        if base is not self._base or len(base) != self._size:
            self._table = {**base, **self.extra}
            self._base, self._size = base, len(base)
        return self._table

    def __reduce__(self) -> tuple[Any, ...]:
        return Reducers, (self.extra,)

    def __repr__(self) -> str:
        names = ", ".join(getattr(t, "__qualname__", repr(t)) for t in self.extra)
        return f"<Reducers for {names or 'nothing'}>"


class _Encoder(threading.local):
    """Reusable picklers, one set per thread (a fresh one after any failure)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.picklers: dict[bool, Any] = {}
        self.busy = False
        self.oob = False
        self.big: list[pickle.PickleBuffer] = []

    def _collect(self, buffer: pickle.PickleBuffer) -> bool:
        return True if not self.oob else _in_band(buffer, self.big)

    def dumps(self, obj: Any, oob: bool, strict: bool) -> tuple[bytes, list[pickle.PickleBuffer]]:
        if self.busy:  # re-entered from a __reduce__: use a private pickler
            cls = _pickler.ReferencePickler if strict else _pickler.Pickler
            return cls.dumps(obj), []
        self.busy = True
        self.oob = oob
        try:
            pickler = self.picklers.get(strict)
            if pickler is None:
                cls = _pickler.ReferencePickler if strict else _pickler.Pickler
                pickler = self.picklers[strict] = cls(self.buf, buffer_callback=self._collect)
            else:
                _pickler.refresh_reducers(pickler)
            buf = self.buf
            try:
                pickler.dump(obj)
                data = buf.getvalue()
            except BaseException:
                self.picklers.pop(strict, None)
                self.big = []
                raise
            finally:
                buf.seek(0)
                buf.truncate()
                pickler.clear_memo()
            big, self.big = self.big, []
            return data, big
        finally:
            self.busy = False


def _dumps_with(obj: Any, oob: bool, strict: bool,
                reducers: Reducers) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """Pickle with a Pool subclass's reducers: a fresh pickler each time."""
    big: list[pickle.PickleBuffer] = []
    buf = io.BytesIO()
    cls = _pickler.ReferencePickler if strict else _pickler.Pickler
    pickler = cls(buf, buffer_callback=(lambda b: _in_band(b, big)) if oob else None)
    base = getattr(pickler, "dispatch_table", None)
    pickler.dispatch_table = reducers.table(copyreg.dispatch_table if base is None else base)
    pickler.dump(obj)
    return buf.getvalue(), big


_encoder = _Encoder()


def encode(obj: Any, oob: bool = True, strict: bool = False,
           reducers: Reducers | None = None) -> tuple[int, list[bytes], list[str]]:
    """Pickle ``obj`` for another process: ``(flags, parts, segment names)``.

    ``parts`` concatenated are the payload. Large buffers go to shared memory
    (``OOB`` in flags, names returned so the caller can remove them if the message
    is never delivered). ``strict``: functions by reference only (see
    ``_pickler.ReferencePickler``). ``reducers``: a Pool subclass's own.
    """
    oob = oob and buffers.AVAILABLE
    if reducers is None:
        data, big = _encoder.dumps(obj, oob, strict)
    else:
        data, big = _dumps_with(obj, oob, strict, reducers)
    if not big:
        return 0, [data], []
    names: list[str] = []
    try:
        table = []
        for buffer in big:
            name, size = buffers.export(buffer)
            names.append(name)
            table.append((name, size))
    except BaseException:
        for name in names:
            buffers.discard(name)
        raise
    packed = pickle.dumps(table, 5)
    return OOB, [_TABLE_LEN.pack(len(packed)), packed, data], names


def decode(view: Any, flags: int) -> Any:
    """Unpickle a payload produced by ``encode`` (``view`` is a memoryview)."""
    if not flags & OOB:
        return loads(view)
    (size,) = _TABLE_LEN.unpack_from(view, 0)
    start = _TABLE_LEN.size
    table = loads(view[start:start + size])
    mapped = []
    keep = bool(flags & KEEP)
    try:
        for name, length in table:
            mapped.append(buffers.attach(name, length, keep))
    finally:
        if not keep:
            for name, _length in table[len(mapped):]:
                buffers.discard(name)
    return loads(view[start + size:], buffers=mapped)


def segment_names(view: Any, flags: int) -> list[str]:
    """The shared-memory names in an encoded payload (to discard it unread)."""
    if not flags & OOB:
        return []
    (size,) = _TABLE_LEN.unpack_from(view, 0)
    start = _TABLE_LEN.size
    return [name for name, _length in loads(view[start:start + size])]
