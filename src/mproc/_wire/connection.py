"""Connection: length-prefixed messages over a byte stream.

The same class serves both ends of a Pipe (a socketpair or an os.pipe), and both
ends of a Listener/Client link. A frame is a 4-byte big-endian length followed by
the payload; a length of 0xFFFFFFFF means "the real length follows in 8 bytes".

Reads are buffered: one ``read`` usually brings in a whole small message (header
and payload together), where a naive reader needs two system calls. Large payloads
are read straight into their final buffer. Memory is committed only as bytes
actually arrive, and a frame longer than ``max_message_size`` is refused, so a
peer announcing an absurd length gets an error, not a giant allocation.
"""

from __future__ import annotations

import os
import select
import struct
from os import sched_yield as _yield
from time import monotonic as _monotonic

from .._runtime import aio
from .._serialize.fds import DupFd
from .._serialize.pickler import dumps, loads, register
from ..errors import BufferTooShort, MessageTooLargeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar

__all__ = ["Connection", "DEFAULT_MAX_MESSAGE_SIZE", "rebuild_connection", "reduce_connection"]

_HEADER = struct.Struct("!I")
_LONG_HEADER = struct.Struct("!Q")
_LONG_MARK = 0xFFFFFFFF
# Reads land in a reusable per-connection buffer of this size. (``os.read(fd, n)``
# would allocate n bytes each time: above glibc's mmap threshold, 128 KiB, that is an
# mmap, a page fault, an mremap and a munmap per message.)
_READ_CHUNK = 64 * 1024
_PIPE_BUF = 4096  # what a writable pipe takes whole, without blocking (POSIX: >= 512)
_SMALL = 64 * 1024  # payloads below this are copied into one write with their header
_PREALLOCATE_LIMIT = 64 * 1024 * 1024
_MSG_WAITALL = 0x100  # socket.MSG_WAITALL on Linux; read from socket when available
_MSG_DONTWAIT = 0x40  # socket.MSG_DONTWAIT on Linux: one send that never blocks
DEFAULT_MAX_MESSAGE_SIZE = 1 << 40  # 1 TiB: beyond any honest message


def _byte_window(view: memoryview, offset: int, size: int | None) -> memoryview:
    """The bytes ``[offset, offset + size)`` of a buffer, as a flat byte view."""
    if view.itemsize != 1 or view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    total = len(view)
    end = total if size is None else offset + size
    problem = (
        "offset is negative" if offset < 0 else
        "buffer length < offset" if offset > total else
        "size is negative" if size is not None and size < 0 else
        "buffer length < offset + size" if end > total else
        None
    )
    if problem is not None:
        raise ValueError(problem)
    return view if offset == 0 and end == total else view[offset:end]


class Connection:
    """A message-oriented connection over a file descriptor (stdlib-compatible)."""

    _handle: int | None
    #: Whether a read may take more than the current frame (the fast path does). A
    #: reader that shares its fd with other processes must not: see SharedReader.
    _reads_ahead: ClassVar[bool] = True

    # Per-connection state whose starting value is kept on the class, so that making
    # a Connection (a Pipe makes two) sets only what differs; assignments below then
    # make them the instance's own.
    _rpos = 0
    max_message_size = DEFAULT_MAX_MESSAGE_SIZE
    # Set by Listener/Client: inspects the first frame (handshake leftovers).
    _first_frame_check: Callable[[bytes], bool] | None = None
    # A socket object over the same fd, for recv(MSG_WAITALL); None = not known yet.
    _sock: Any = None
    # After a large message, read the next header alone so that the next large
    # payload can land directly in its final bytes object.
    _header_only = False
    _scratch: memoryview | None = None  # the read buffer, made on first read
    # Request/response links (manager proxies) poll for up to this long before
    # sleeping in read(): a reply that comes within microseconds then costs no
    # scheduler wake-up, the dominant cost of a round trip on virtual machines.
    spin_seconds: float = 0.0
    # The write end of an OS pipe grows the pipe's buffer before its first large
    # message, not when made: growing costs as much as making the pipe, and most
    # pipes never carry a large message (see os_pipe).
    _grow_pending = False

    def __init__(self, handle: int, readable: bool = True, writable: bool = True) -> None:
        handle = handle.__index__()
        if handle < 0:
            raise ValueError("invalid handle")
        if not readable and not writable:
            raise ValueError("at least one of `readable` and `writable` must be True")
        self._handle = handle
        self._readable = readable
        self._writable = writable
        self._rbuf = bytearray()

    # -- state ---------------------------------------------------------------

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self._close()

    def _check_closed(self) -> None:
        if self._handle is None:
            raise OSError("handle is closed")

    def _check_readable(self) -> None:
        if not self._readable:
            raise OSError("connection is write-only")

    def _check_writable(self) -> None:
        if not self._writable:
            raise OSError("connection is read-only")

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def readable(self) -> bool:
        return self._readable

    @property
    def writable(self) -> bool:
        return self._writable

    def fileno(self) -> int:
        self._check_closed()
        assert self._handle is not None
        return self._handle

    def close(self) -> None:
        if self._handle is not None:
            try:
                self._close()
            finally:
                self._handle = None
                self._rbuf = bytearray()
                self._rpos = 0

    def _close(self) -> None:
        assert self._handle is not None
        if self._sock:
            self._sock.detach()
            self._sock = False
        os.close(self._handle)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else f"fd={self._handle}"
        mode = "rw" if self._readable and self._writable else ("r" if self._readable else "w")
        return f"<{type(self).__name__} {state} mode={mode}>"

    # -- raw I/O (overridden by transports that are not plain fds) -----------

    def _raw_readinto(self, view: memoryview) -> int:
        return os.readv(self._handle, [view])  # type: ignore[arg-type]

    def _raw_write(self, data: Any) -> int:
        return os.write(self._handle, data)  # type: ignore[arg-type]

    def _raw_writev(self, parts: list[Any]) -> int:
        return os.writev(self._handle, parts)  # type: ignore[arg-type]

    def _raw_wait_readable(self, timeout: float | None) -> bool:
        poller = select.poll()
        poller.register(self._handle, select.POLLIN)  # type: ignore[arg-type]
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(poller.poll(ms))

    # -- sending --------------------------------------------------------------

    def _send_frame(self, payload: Any, size: int) -> None:
        if size < _LONG_MARK:
            header = _HEADER.pack(size)
        else:
            header = _HEADER.pack(_LONG_MARK) + _LONG_HEADER.pack(size)
        if size < _SMALL:
            data = header + bytes(payload)
            written = self._raw_write(data)
            if written != len(data):
                self._write_all(memoryview(data)[written:])
            return
        if self._grow_pending:
            self._grow_pending = False
            grow_pipe(self._handle)  # type: ignore[arg-type]
        view = memoryview(payload)
        written = self._raw_writev([header, view])
        if written < len(header):
            self._write_all(memoryview(header)[written:])
            written = len(header)
        if written - len(header) < size:
            self._write_all(view[written - len(header):])

    def _write_all(self, view: memoryview) -> None:
        while len(view):
            n = self._raw_write(view)
            view = view[n:]

    def send_bytes(self, buf: Any, offset: int = 0, size: int | None = None) -> None:
        """Send the bytes of a bytes-like object (optionally a slice of it)."""
        self._check_closed()
        self._check_writable()
        view = _byte_window(memoryview(buf), offset, size)
        self._send_frame(view, len(view))

    def send(self, obj: Any) -> None:
        """Pickle ``obj`` and send it."""
        if self._handle is None:
            raise OSError("handle is closed")
        if not self._writable:
            raise OSError("connection is read-only")
        data = dumps(obj)
        size = len(data)
        if size >= _SMALL:
            self._send_frame(data, size)
            return
        data = _HEADER.pack(size) + data  # one write: header and payload together
        written = self._raw_write(data)
        if written != len(data):
            self._write_all(memoryview(data)[written:])

    # -- receiving -----------------------------------------------------------

    def _fill(self, want: int, chunk_size: int = _READ_CHUNK) -> None:
        """Make at least ``want`` unread bytes available in the buffer."""
        buf = self._rbuf
        if self._rpos and self._rpos == len(buf):
            buf.clear()
            self._rpos = 0
        while len(buf) - self._rpos < want:
            if self.spin_seconds:
                self._spin()
            scratch = self._scratch
            if scratch is None:
                scratch = self._scratch = memoryview(bytearray(_READ_CHUNK))
            n = self._raw_readinto(scratch[:chunk_size] if chunk_size < _READ_CHUNK else scratch)
            if not n:
                if len(buf) - self._rpos:
                    raise EOFError("connection closed in the middle of a message")
                raise EOFError
            buf += scratch[:n]

    def _spin(self) -> None:
        poller = select.poll()
        poller.register(self._handle, select.POLLIN)  # type: ignore[arg-type]
        deadline = _monotonic() + self.spin_seconds
        # Yield between polls: if the peer needs this core, it gets it.
        while not poller.poll(0) and _monotonic() < deadline:
            _yield()

    def _socket_object(self) -> Any:
        """A socket sharing our fd, if the fd is a stream socket (else False)."""
        if self._sock is None:
            import socket
            import stat

            self._sock = False
            if stat.S_ISSOCK(os.fstat(self._handle).st_mode):  # type: ignore[arg-type]
                self._sock = socket.socket(fileno=self._handle)
                self._sock.setblocking(True)  # undo socket.setdefaulttimeout()
        return self._sock

    def _take(self, n: int) -> bytes:
        pos = self._rpos
        data = bytes(self._rbuf[pos:pos + n])
        self._rpos = pos + n
        return data

    def _read_header(self) -> int:
        self._fill(4, 4 if self._header_only else _READ_CHUNK)
        (size,) = _HEADER.unpack_from(self._rbuf, self._rpos)
        self._rpos += 4
        if size == _LONG_MARK:
            self._fill(8)
            (size,) = _LONG_HEADER.unpack_from(self._rbuf, self._rpos)
            self._rpos += 8
        return size

    def _read_payload(self, size: int) -> Any:
        have = len(self._rbuf) - self._rpos
        if size <= have:
            return self._take(size)
        if size <= _READ_CHUNK:
            self._header_only = False
            self._fill(size)
            return self._take(size)
        self._header_only = True
        if not have and size <= _PREALLOCATE_LIMIT:
            sock = self._socket_object()
            if sock:
                # One copy, kernel to the final bytes object.
                data = sock.recv(size, _MSG_WAITALL)
                if len(data) == size:
                    return data
                if not data:
                    raise EOFError("connection closed in the middle of a message")
                self._rbuf += data  # interrupted: finish below
                have = len(data)
        # Large: read straight into the final buffer, growing it only as data arrives.
        out = bytearray(min(size, _PREALLOCATE_LIMIT))
        out[:have] = self._rbuf[self._rpos:]
        self._rbuf.clear()
        self._rpos = 0
        got = have
        while got < size:
            if got == len(out):
                out.extend(bytes(min(len(out), size - len(out))))
            n = self._raw_readinto(memoryview(out)[got:])
            if not n:
                raise EOFError("connection closed in the middle of a message")
            got += n
        return out

    def _recv_frame(self, maxlength: int | None = None, settle_only: bool = False) -> Any:
        while True:
            size = self._read_header()
            limit = self.max_message_size
            if size > limit:
                self.close()
                raise MessageTooLargeError(
                    f"peer announced a {size}-byte message, over this connection's "
                    f"limit of {limit} bytes; the connection was closed"
                )
            if maxlength is not None and size > maxlength:
                self.close()
                raise OSError("bad message length")
            payload = self._read_payload(size)
            check = self._first_frame_check
            if check is None:
                return payload
            self._first_frame_check = None
            if check(bytes(payload)):
                return payload
            if settle_only:
                return None

    def _read_whole_frame(self) -> memoryview | None:
        """The fast path of a receive: with nothing buffered, one read that brings
        exactly one whole small frame returns its payload as a view of the read
        buffer (valid until the next read). Anything else (part of a frame, several
        frames, a large one, a connection still checking its first frame) is left
        buffered for the general path, and None is returned."""
        if (self._rpos != len(self._rbuf) or self._header_only or self.spin_seconds
                or self._first_frame_check is not None or not self._reads_ahead):
            return None
        scratch = self._scratch
        if scratch is None:
            scratch = self._scratch = memoryview(bytearray(_READ_CHUNK))
        n = self._raw_readinto(scratch)
        if n >= 4:
            size = _HEADER.unpack_from(scratch)[0]
            if size + 4 == n and size <= self.max_message_size:
                return scratch[4:n]
        elif not n:
            raise EOFError
        buf = self._rbuf
        buf.clear()
        self._rpos = 0
        buf += scratch[:n]
        return None

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        """Receive one message as bytes (OSError if longer than ``maxlength``)."""
        if self._handle is None:
            raise OSError("handle is closed")
        if not self._readable:
            raise OSError("connection is write-only")
        if maxlength is not None:
            if maxlength < 0:
                raise ValueError("negative maxlength")
        else:
            view = self._read_whole_frame()
            if view is not None:
                return bytes(view)
        payload = self._recv_frame(maxlength)
        return payload if type(payload) is bytes else bytes(payload)

    def recv_bytes_into(self, buf: Any, offset: int = 0) -> int:
        """Receive one message into ``buf`` at byte ``offset``; return its size."""
        self._check_closed()
        self._check_readable()
        with memoryview(buf) as view:
            if view.itemsize > 1 or view.format != "B":
                view = view.cast("B")
            capacity = len(view)
            if offset < 0:
                raise ValueError("negative offset")
            if offset > capacity:
                raise ValueError("offset too large")
            payload = self._recv_frame()
            size = len(payload)
            if size > capacity - offset:
                raise BufferTooShort(bytes(payload))
            view[offset:offset + size] = payload
            return size

    def recv(self) -> Any:
        """Receive one message and unpickle it."""
        if self._handle is None:
            raise OSError("handle is closed")
        if not self._readable:
            raise OSError("connection is write-only")
        view = self._read_whole_frame()
        if view is not None:
            return loads(view)
        return loads(self._recv_frame())

    def _has_buffered_data(self) -> bool:
        return len(self._rbuf) > self._rpos

    # -- awaiting (asyncio): the loop's fd callbacks, never a thread -------------------

    async def apoll(self, timeout: float | None = 0.0) -> bool:
        """Await ``poll(timeout)``: whether data is available, within ``timeout``."""
        self._check_closed()
        self._check_readable()
        if self._has_buffered_data() or self.poll(0):
            return True
        if timeout is not None and timeout <= 0:
            return False
        await aio.readable((self._handle,), timeout)  # type: ignore[arg-type]
        return self.poll(0)

    async def arecv_bytes(self, maxlength: int | None = None) -> bytes:
        """Await ``recv_bytes()``: the bytes of the next message, read as they arrive.

        A cancelled ``arecv_bytes`` consumes no message: what arrived stays buffered
        for the next receive.
        """
        await self._await_frame()
        return self.recv_bytes(maxlength)

    async def arecv(self) -> Any:
        """Await ``recv()``: the next message, unpickled (see ``arecv_bytes``)."""
        await self._await_frame()
        return self.recv()

    async def asend_bytes(self, buf: Any, offset: int = 0, size: int | None = None) -> None:
        """Await ``send_bytes()``: written as the peer makes room, never blocking the
        loop. A cancelled ``asend_bytes`` may have sent part of the message: do not
        use the connection after cancelling one."""
        self._check_closed()
        self._check_writable()
        view = _byte_window(memoryview(buf), offset, size)
        await self._await_write(view, len(view))

    async def asend(self, obj: Any) -> None:
        """Await ``send(obj)`` (see ``asend_bytes``)."""
        self._check_closed()
        self._check_writable()
        data = dumps(obj)
        await self._await_write(data, len(data))

    async def _await_frame(self) -> None:
        """Read what arrives, without blocking, until a whole frame is buffered."""
        self._check_closed()
        self._check_readable()
        while not self._frame_buffered():
            await aio.readable((self._handle,))  # type: ignore[arg-type]
            buf = self._rbuf
            if self._rpos and self._rpos == len(buf):
                buf.clear()
                self._rpos = 0
            scratch = self._scratch
            if scratch is None:
                scratch = self._scratch = memoryview(bytearray(_READ_CHUNK))
            n = self._raw_readinto(scratch)  # readable: returns what is there
            if not n:
                if len(buf) - self._rpos:
                    raise EOFError("connection closed in the middle of a message")
                raise EOFError
            buf += scratch[:n]

    def _frame_buffered(self) -> bool:
        buf, pos = self._rbuf, self._rpos
        have = len(buf) - pos
        if have < 4:
            return False
        (size,) = _HEADER.unpack_from(buf, pos)
        head = 4
        if size == _LONG_MARK:
            if have < 12:
                return False
            (size,) = _LONG_HEADER.unpack_from(buf, pos + 4)
            head = 12
        return have - head >= size

    async def _await_write(self, payload: Any, size: int) -> None:
        if self._grow_pending and size >= _SMALL:
            self._grow_pending = False
            grow_pipe(self._handle)  # type: ignore[arg-type]
        if size < _LONG_MARK:
            header = _HEADER.pack(size)
        else:
            header = _HEADER.pack(_LONG_MARK) + _LONG_HEADER.pack(size)
        view = memoryview(header + bytes(payload))
        sock: Any = self._socket_object() if self._sock is not False else False
        while len(view):
            await aio.writable((self._handle,))  # type: ignore[arg-type]
            if sock:
                try:
                    n = sock.send(view, _MSG_DONTWAIT)
                except BlockingIOError:
                    continue
            else:  # a pipe that is writable takes PIPE_BUF bytes without blocking
                n = self._raw_write(view[:_PIPE_BUF])
            view = view[n:]

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Whether data is available to read, waiting up to ``timeout`` seconds."""
        self._check_closed()
        self._check_readable()
        if self._has_buffered_data():
            return True
        ready = self._raw_wait_readable(timeout)
        if ready and self._first_frame_check is not None:
            return self._settle_first_frame(timeout)
        return ready

    def _settle_first_frame(self, timeout: float | None) -> bool:
        """Read and check the peer's first frame (a handshake leftover, sent at
        connection time and so already complete), then poll again for real data."""
        try:
            payload = self._recv_frame(settle_only=True)
        except EOFError:
            return True
        if payload is not None:
            # A real message: put it back in front of the buffer.
            size = len(payload)
            header = _HEADER.pack(size) if size < _LONG_MARK else (
                _HEADER.pack(_LONG_MARK) + _LONG_HEADER.pack(size))
            self._rbuf[self._rpos:self._rpos] = header + bytes(payload)
            return True
        return self._has_buffered_data() or self._raw_wait_readable(timeout)


_PIPE_BUFFER = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl; absent elsewhere


def grow_pipe(fd: int) -> None:
    """Give the OS pipe ``fd`` a 1 MiB buffer where the platform allows: a large
    message then crosses in fewer context switches."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), _PIPE_BUFFER)
    except (OSError, ImportError, ValueError):
        pass


def rebuild_connection(dupfd: Any, readable: bool, writable: bool) -> Connection:
    return Connection(dupfd.detach(), readable, writable)


def reduce_connection(conn: Connection) -> Any:
    """Pickle a Connection as its fd (inherited, or served by the fd sharer)."""
    if conn._has_buffered_data():
        raise ValueError(
            f"{conn!r} has received data that was not read yet; read it before sending "
            "the connection to another process"
        )
    if conn._grow_pending:  # the copy made there would not know to
        conn._grow_pending = False
        grow_pipe(conn.fileno())
    return rebuild_connection, (DupFd(conn.fileno()), conn.readable, conn.writable)


register(Connection, reduce_connection)
