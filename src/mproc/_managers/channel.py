"""The fast lane of a manager connection: small request/reply frames over a plain fd.

A proxy call is one small request and one small reply. Through the general
``Connection`` each message costs a reused-pickler round (reducer-table refresh,
BytesIO reset), a buffered read (a new poll object, bytearray append, slice copy)
and several checks: about 1.5 us of Python at each end, where its system calls
take 0.4. A ``Channel`` wraps an authenticated plain-fd ``Connection`` (not TLS,
not XML-RPC) and handles the common case itself, with the same frames on the wire:

* a message made only of builtin atoms (and the request's tuple/dict shell) is
  pickled with the C ``pickle.dumps`` (for these types mproc's pickler writes the
  same bytes: they never reach a reducer); anything else goes through mproc's
  ``dumps`` as before;
* the replies ``None``/``True``/``False`` are sent ready-made and recognised by
  the client without unpickling;
* a frame that arrives whole in one read (the usual case) is unpickled from the
  read buffer; a partial, long or pipelined frame is handed to the Connection,
  which reads the rest exactly as it always did;
* before blocking in read, it polls the fd for up to ``spin_seconds`` (one poll
  object, made once), yielding the CPU between polls.
"""
from __future__ import annotations

import os
import pickle
import select
import struct
from os import sched_yield as _yield
from time import monotonic as _monotonic

from .._serialize.pickler import dumps
from .._wire.connection import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Channel", "fast_lane"]

_pickle_dumps = pickle.dumps
_loads = pickle.loads
_pack = struct.Struct("!I").pack
_unpack_from = struct.Struct("!I").unpack_from
# Exact types the C pickler writes itself, never consulting reducer_override or the
# dispatch table: a message made of these pickles the same with pickle.dumps.
_ATOMS = frozenset({int, str, float, bytes, bool, type(None)})
_CHUNK = 64 * 1024  # one read; a frame longer than this goes to the Connection
_SMALL = _CHUNK - 4  # payloads below this are written in one piece with their header


def fast_lane(conn: Any, spin_seconds: float) -> Any:
    """A Channel over ``conn`` if it is a plain-fd Connection, else ``conn`` itself."""
    if type(conn) is Connection and conn._first_frame_check is None:
        return Channel(conn, spin_seconds)
    conn.spin_seconds = spin_seconds
    return conn


def _frame_of(payload: bytes) -> bytes:
    return _pack(len(payload)) + payload


# The replies of most mutating calls and tests (``d[k] = v``, ``lst.append(x)``,
# ``lock.acquire()``, ``k in d``): sent ready-made, recognised without unpickling.
_CANNED = {id(value): _frame_of(_pickle_dumps(("#RETURN", value), 5))
           for value in (None, True, False)}
_CANNED_REPLIES = [(_CANNED[id(value)], ("#RETURN", value)) for value in (None, True, False)]
_CANNED_SIZE = len(_CANNED[id(None)])
if any(len(frame) != _CANNED_SIZE for frame, _reply in _CANNED_REPLIES):
    raise AssertionError("the ready-made replies must have one length")


class Channel:
    """A Connection's small-frame fast path (``send``/``recv`` as a Connection's)."""

    __slots__ = ("conn", "_fd", "_scratch", "_view", "_readv_args", "_poll", "_lent",
                 "spin_seconds")

    def __init__(self, conn: Connection, spin_seconds: float) -> None:
        self.conn = conn
        self._fd: int = conn.fileno()
        self._scratch = bytearray(_CHUNK)
        self._view = memoryview(self._scratch)
        self._readv_args = [self._view]
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        self._poll = poller.poll
        # Whether the Connection may hold unread bytes (then it reads the next frame).
        self._lent = conn._has_buffered_data()
        self.spin_seconds = spin_seconds
        conn.spin_seconds = spin_seconds  # for the frames the Connection finishes

    # -- a client's call ------------------------------------------------------

    def call(self, ident: Any, method: str, args: Any, kwds: Any) -> Any:
        """Send the request ``(ident, method, args, kwds or {})``; return the reply."""
        if not kwds and type(args) is tuple:
            for arg in args:
                if type(arg) not in _ATOMS:
                    data = dumps((ident, method, args, {}))
                    break
            else:
                data = _pickle_dumps((ident, method, args, {}), 5)
        else:
            data = dumps((ident, method, args, kwds or {}))
        self._send_data(data)
        # What frame() does, inline, plus the ready-made replies.
        if self._lent:
            return _loads(self._from_connection(None))
        if self.spin_seconds and not self._poll(0):
            self._spin()
        n = os.readv(self._fd, self._readv_args)
        if n == _CANNED_SIZE:
            scratch = self._scratch
            for frame, reply in _CANNED_REPLIES:
                if scratch.startswith(frame):
                    return reply
        view = self._view
        if n >= 4:
            (size,) = _unpack_from(view)
            if n == size + 4 and size <= self.conn.max_message_size:
                return _loads(view[4:n])
        elif not n:
            raise EOFError
        return _loads(self._from_connection(view[:n]))

    # -- sending --------------------------------------------------------------

    def reply(self, result: Any) -> None:
        """Send ``("#RETURN", result)``."""
        frame = _CANNED.get(id(result))
        if frame is None:
            data = (_pickle_dumps(("#RETURN", result), 5) if type(result) in _ATOMS
                    else dumps(("#RETURN", result)))
            if len(data) >= _SMALL:
                self.conn.send_bytes(data)
                return
            frame = _pack(len(data)) + data
        written = os.write(self._fd, frame)
        if written != len(frame):
            self._write_rest(frame, written)

    def send(self, obj: Any) -> None:
        """Pickle ``obj`` and send it (as ``Connection.send``)."""
        self._send_data(dumps(obj))

    def _send_data(self, data: bytes) -> None:
        """One frame: written whole with its header when small, else by the Connection."""
        if len(data) < _SMALL:
            frame = _pack(len(data)) + data
            written = os.write(self._fd, frame)
            if written != len(frame):
                self._write_rest(frame, written)
        else:
            self.conn.send_bytes(data)

    def _write_rest(self, frame: bytes, written: int) -> None:
        """Finish a frame that os.write took only part of (interrupted by a signal)."""
        view = memoryview(frame)[written:]
        while view:
            view = view[os.write(self._fd, view):]

    def send_bytes(self, buf: Any, offset: int = 0, size: int | None = None) -> None:
        self.conn.send_bytes(buf, offset, size)

    # -- receiving ------------------------------------------------------------

    def recv(self) -> Any:
        """Receive one message and unpickle it."""
        return _loads(self.frame())

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        if maxlength is not None:
            return self.conn.recv_bytes(maxlength)
        return bytes(self.frame())

    def frame(self) -> Any:
        """The next frame's payload: a view of the read buffer, valid until the next read."""
        if self._lent:
            return self._from_connection(None)
        if self.spin_seconds and not self._poll(0):
            self._spin()
        view = self._view
        n = os.readv(self._fd, self._readv_args)
        if n >= 4:
            (size,) = _unpack_from(view)
            if n == size + 4 and size <= self.conn.max_message_size:
                return view[4:n]
        elif not n:
            raise EOFError
        # Partial, long, or more than one frame: the Connection reads the rest.
        return self._from_connection(view[:n])

    def _spin(self) -> None:
        """Poll for up to ``spin_seconds`` before the read blocks."""
        poll = self._poll
        deadline = _monotonic() + self.spin_seconds
        # Yield between polls: if the peer needs this core, it gets it.
        while not poll(0) and _monotonic() < deadline:
            _yield()

    def _from_connection(self, data: Any) -> bytes:
        conn = self.conn
        if data is not None:
            conn._rbuf += data
        try:
            return conn.recv_bytes()
        finally:
            self._lent = conn._has_buffered_data()
            if conn.closed:  # it refused the frame (too long): so do we, from now on
                self._fd = -1

    # -- the rest is the Connection's ---------------------------------------

    def poll(self, timeout: float | None = 0.0) -> bool:
        return self.conn.poll(timeout)

    def fileno(self) -> int:
        return self.conn.fileno()

    @property
    def closed(self) -> bool:
        return self.conn.closed

    def close(self) -> None:
        self._fd = -1
        self.conn.close()

    def __getattr__(self, name: str) -> Any:
        if name == "conn":  # not set yet
            raise AttributeError(name)
        return getattr(self.conn, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self.conn!r}>"
