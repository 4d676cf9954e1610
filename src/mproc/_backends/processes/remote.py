"""Exceptions that cross from a worker to the parent, with their traceback.

A worker sends an exception as two parts: its formatted traceback (text, always
readable) and the pickled exception. The parent unpickles the exception and sets a
``RemoteTraceback`` holding the text as its ``__cause__``, so the printed traceback
shows the worker's frames first, then the caller's. If the exception cannot be
pickled in the worker, a ``MaybeEncodingError`` goes instead (as in the stdlib); if
it cannot be unpickled in the parent, the task fails with a
``ResultUnpicklingError`` whose cause is still the worker's traceback.
"""

from __future__ import annotations

from ...errors import MaybeEncodingError
from ..base import describe_exception, format_remote, remote_exception
from . import codec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["format_remote", "pack_exception", "unpack_exception", "describe_exception"]

_WHERE = {
    codec.PHASE_RUN: "raised in worker pid {pid}",
    codec.PHASE_ARGS: "raised in worker pid {pid} while unpickling the task's arguments",
    codec.PHASE_FUNC: "raised in worker pid {pid} while unpickling the task's function",
    codec.PHASE_RESULT: "raised in worker pid {pid} while pickling the task's result",
}


def pack_exception(exc: BaseException) -> tuple[bytes, list[bytes]]:
    """Worker side: ``(traceback text, payload parts)`` for an ERROR message.

    The exception is pickled in band only (never shared memory); one that cannot
    be pickled is replaced by a ``MaybeEncodingError`` naming it.
    """
    text = format_remote(exc).encode("utf-8", "replace")
    try:
        _flags, parts, _names = codec.encode(exc, oob=False, strict=True)
    except Exception as error:
        substitute = MaybeEncodingError(error, exc)
        _flags, parts, _names = codec.encode(substitute, oob=False, strict=True)
    return text, parts


def unpack_exception(text: str, payload: Any, phase: int, pid: int | None,
                     task: str) -> BaseException:
    """Parent side: the exception to raise for an ERROR message."""
    header = _WHERE.get(phase, _WHERE[codec.PHASE_RUN]).format(pid=pid)
    return remote_exception(lambda: codec.loads(payload), text, header, task)
