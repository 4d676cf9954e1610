"""Tasks as they travel: envelopes out to a worker, answers back from it.

An ``Envelope`` is a task encoded once, at submit time, in the caller's thread (so
an argument that cannot be pickled fails that task at once): its frame, ready to
write, the function id it needs and the frame that defines that function for a
worker that does not have it yet, the shared-memory segments it owns, and where it
stands: when it was sent, where its bytes end in its worker's stream (to tell, if
the worker dies, whether it had even read the task), the item it is running and
that item's deadline. A task that a dead worker had not read is sent again
unchanged, to another worker.

Functions are pickled once per pool (``FunctionTable``) and, when they are referred
to by name, once per process (``function_blob``): the bytes of ``mod.f`` never
change, while a lambda or a closure is pickled again for every call.

A pool whose class asked for its own forward reducers (``codec.Reducers``) pickles
functions and arguments with them: joblib sends its arrays inside the function (a
batch of calls), so both must go through the subclass's reducers.

``decode`` turns an answer frame back into ``(ok, value)``, with the result
unpickled, or the exception rebuilt with the worker's traceback as its cause.
"""

from __future__ import annotations

import itertools
import sys
import types
import weakref

from ...errors import ResultUnpicklingError
from . import buffers, codec
from .remote import describe_exception, unpack_exception

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..base import Task

__all__ = ["Envelope", "FunctionTable", "function_blob", "encode", "decode", "discard_segments"]

_SMALL = 64 * 1024  # payloads copied into one piece with their headers (fewer iovecs)
_tids = itertools.count(1)
_fids = itertools.count(1)

# Pickled functions that are referred to by name: the same bytes for ever.
_blobs: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def _by_reference(func: Any) -> bool:
    if not isinstance(func, (types.FunctionType, type)):
        return False
    qualname = getattr(func, "__qualname__", "")
    if "<" in qualname:
        return False
    obj: Any = sys.modules.get(getattr(func, "__module__", None) or "")
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj is func


def function_blob(func: Any, reducers: codec.Reducers | None = None) -> bytes:
    """The pickled function (cached for functions pickled by reference)."""
    if reducers is not None:
        return codec.encode(func, oob=False, reducers=reducers)[1][0]
    try:
        blob = _blobs.get(func)
        cacheable = True
    except TypeError:  # not weakly referenceable (a builtin, a bound method)
        blob, cacheable = None, False
    if blob is None:
        _flags, parts, _names = codec.encode(func, oob=False)
        blob = parts[0]
        if cacheable and _by_reference(func):
            _blobs[func] = blob
    return blob


class FunctionTable:
    """A pool's functions: pickled bytes -> (function id, the frame defining it)."""

    LIMIT = 4096  # distinct functions remembered (ids are never reused)

    def __init__(self, reducers: codec.Reducers | None = None) -> None:
        self._known: dict[bytes, tuple[int, list[bytes]]] = {}
        self._reducers = reducers

    def lookup(self, func: Any) -> tuple[int, list[bytes]]:
        blob = function_blob(func, self._reducers)
        known = self._known.get(blob)
        if known is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            fid = next(_fids)
            head = codec.FUNC_HEAD.pack(codec.FUNC, fid)
            known = self._known[blob] = (fid, [codec.frame_header(len(head) + len(blob)) + head,
                                               blob])
        return known


class Envelope:
    """A task as sent: its frames, and where it is."""

    __slots__ = ("task", "tid", "fid", "func_frame", "parts", "size", "names", "sent_at",
                 "deadline", "item", "killed", "end", "cancelled", "cancel_end", "attempts",
                 "peak")

    def __init__(self, task: Task, tid: int, fid: int, func_frame: list[bytes],
                 parts: list[bytes], names: list[str]) -> None:
        self.task = task
        self.tid = tid
        self.fid = fid
        self.func_frame = func_frame
        self.parts = parts
        self.size = sum(len(part) for part in parts)
        self.names = names  # shared-memory segments holding large arguments
        self.sent_at = 0.0
        self.deadline: float | None = None  # set when the worker starts a timed item
        self.item: int | None = None  # the item of the task the worker is running
        self.killed = 0  # other processes killed with the worker at a timeout
        self.end = 0  # where its frame ends in the stream of bytes sent to its worker
        self.cancelled = False  # its job cancelled it: never answer it, never requeue it
        self.cancel_end = 0  # where the CANCEL frame sent for it ends in that stream
        # its worker deaths so far: (pid, exit code, what happened), for retries
        self.attempts: list[tuple[int, int | None, str]] | None = None
        self.peak: int | None = None  # resident bytes of its worker, with a memory_limit

    def requeued(self) -> Envelope:
        """Forget where it was: it goes to another worker."""
        self.deadline = self.item = self.peak = None
        return self


def encode(task: Task, fid: int, func_frame: list[bytes],
           reducers: codec.Reducers | None = None) -> Envelope:
    """Pickle the task's arguments (raises if they cannot be pickled)."""
    flags, parts, names = codec.encode(task.payload, reducers=reducers)
    task.payload = None  # the arguments are not kept alive by the pool
    if task.timeout is not None:
        flags |= codec.TIMED
    if getattr(task.job, "_claim", None) is not None:
        flags |= codec.CANCELLABLE
    if names and task.policy.retries:
        flags |= codec.KEEP  # it may be sent again: the worker must not remove them
    tid = next(_tids)
    head = codec.TASK_HEAD.pack(codec.TASK, tid, fid, task.mode, flags)
    if len(parts) == 1 and len(parts[0]) < _SMALL:
        data = parts[0]
        frame = [codec.frame_header(len(head) + len(data)) + head + data]
    else:
        size = len(head) + sum(len(p) for p in parts)
        frame = [codec.frame_header(size) + head, *parts]
    return Envelope(task, tid, fid, func_frame, frame, names)


def discard_segments(env: Envelope) -> None:
    """Remove the shared memory of arguments that will not be read."""
    for name in env.names:
        buffers.discard(name)


def unpickling_error(task: Task, exc: BaseException) -> BaseException:
    error = ResultUnpicklingError(describe_exception(exc), f"the result of {task.describe()}")
    error.__cause__ = exc
    return error


_OK = codec.OK[0]
_HEAD = codec.RESULT_HEAD.size


def decode(task: Task, frame: Any, pid: int | None) -> tuple[bool, Any]:
    """``(ok, value)`` for an OK or ERROR frame from the worker ``pid``."""
    view = memoryview(frame)
    if frame[0] == _OK:
        flags = frame[_HEAD - 1]
        try:
            if not flags & codec.OOB:  # the common case
                return True, codec.loads(view[_HEAD:])
            return True, codec.decode(view[_HEAD:], flags)
        except BaseException as exc:
            return False, unpickling_error(task, exc)
    _k, _tid, phase, length = codec.ERROR_HEAD.unpack_from(frame)
    start = codec.ERROR_HEAD.size
    text = bytes(view[start:start + length]).decode("utf-8", "replace")
    return False, unpack_exception(text, view[start + length:], phase, pid, task.describe())
