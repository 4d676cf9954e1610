"""The listener's handshake engine: every pending connection's handshake at once.

Why: a handshake needs the client's cooperation (its answer to the challenge, its
half of TLS). Run one at a time, as ``accept()`` used to, a client that connects
and says nothing, or sends half a frame, holds ``accept()`` for the whole
``handshake_timeout``, and ten of them deny service for ten timeouts. Run on a
thread each, as the manager server used to, a flood of connections costs a thread
each. Here ``accept()`` runs one ``poll`` loop over the listening socket and every
pending handshake, and returns the first connection whose handshake completes::

    accept()
      loop: ready connection?  -> return it (oldest completion first)
            drop handshakes past their deadline (handshake_timeout from their
            own accept time)
            poll(listening socket + pending sockets, until the next deadline)
            pending socket ready     -> run its steps as far as they go
              (TLS ``do_handshake``, then ``auth.server_steps``)
            listening socket readable -> then accept a batch of at most 16
              (non-blocking); each new socket starts its steps at once (the
              challenge goes out)

The steps are ``auth.server_steps``, the same generator the blocking path runs, so
the bytes on the wire are the same. What pending connections may cost is bounded:
at most ``max_pending`` of them (a new one past the bound drops the *oldest*
pending handshake; completed ones wait in ``ready``, never dropped), frames are
read exactly (4-byte header, then the payload) and a header announcing more than
``auth.MAX_HANDSHAKE_MESSAGE`` bytes drops the connection before anything is
allocated for it. A failed handshake is logged and dropped; it never raises out
of ``accept()``. Pending handshakes stay on the engine between calls: one that
completes while nobody is in ``accept()`` is returned by the next call.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import threading
from collections import deque
from time import monotonic

from .._runtime import log
from ..errors import AuthenticationError
from . import auth
from .connection import Connection
from .tls import TLSConnection, start_server_side

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any

__all__ = ["HandshakeEngine", "DEFAULT_MAX_PENDING"]

DEFAULT_MAX_PENDING = 64
_HEADER = struct.Struct("!I")
_IN = select.POLLIN
_OUT = select.POLLOUT
_BROKEN = select.POLLHUP | select.POLLERR | select.POLLNVAL
_MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
# accept() failing for want of descriptors or memory: free some, or pause a moment
# (the listening socket stays readable, so retrying at once would spin).
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_ACCEPT_PAUSE = 0.1
# New sockets taken per pass of the loop: enough to keep up with a flood (a pass
# costs about one accept's worth), few enough that a pass stays well under 1 ms.
_ACCEPT_BATCH = 16
# A failed handshake (the client's fault, or a lost connection): dropped, logged.
_EXPECTED = (AuthenticationError, OSError, EOFError, ValueError)


class _Dropped(Exception):
    """A handshake the engine ends itself (an oversized frame)."""


class _Pending:
    """One connection in its handshake: where its steps are, what it waits for."""

    __slots__ = ("sock", "fd", "peer", "deadline", "steps", "kind", "arg", "out", "buf",
                 "size", "tls_handshaking", "events", "check")

    def __init__(self, sock: Any, peer: Any, deadline: float, steps: Any, tls: bool) -> None:
        self.sock = sock
        self.fd: int = sock.fileno()
        self.peer = peer
        self.deadline = deadline
        self.steps = steps
        self.kind: str | None = None  # the current step (None: steps done)
        self.arg: Any = None
        self.out = memoryview(b"")  # the rest of the frame being sent
        self.buf = bytearray()  # what arrived of the frame being read
        self.size = -1  # its announced payload size, once the header is in
        self.tls_handshaking = tls
        self.events = 0  # what it is registered for in the poll set
        self.check: Any = None  # the first-frame check, from the finished steps


class HandshakeEngine:
    """Accepts on a listening socket and runs the handshakes of pending clients."""

    def __init__(self, sock: socket.socket, authkey: bytes | None, timeout: float | None,
                 ssl_context: ssl.SSLContext | None, max_pending: int) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, not {max_pending}")
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._authkey = authkey
        self._timeout = timeout or None
        self._ssl_context = ssl_context
        self._max_pending = max_pending
        self._poll = select.poll()
        self._poll.register(self._fd, _IN)
        self._pending: dict[int, _Pending] = {}  # by fd, in accept order: oldest first
        self._ready: deque[tuple[Connection, Any]] = deque()
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closed = False
        self._paused_until = 0.0
        self._want_read: tuple[type[BaseException], ...] = ()
        self._want_write: tuple[type[BaseException], ...] = ()
        if ssl_context is not None:
            import ssl

            self._want_read, self._want_write = (ssl.SSLWantReadError,), (ssl.SSLWantWriteError,)
        self._would_block = (BlockingIOError, *self._want_read, *self._want_write)

    @property
    def pending(self) -> int:
        """How many handshakes are in progress."""
        return len(self._pending)

    # -- the loop ------------------------------------------------------------------

    def accept(self) -> tuple[Connection, Any]:
        """The next connection to complete its handshake, and its peer's address."""
        with self._lock:
            self._owner = threading.get_ident()
            try:
                return self._next_ready()
            finally:
                self._owner = None
                if self._closed:
                    self._release()

    def _next_ready(self) -> tuple[Connection, Any]:
        while True:
            if self._closed:
                raise OSError("listener is closed")
            if self._ready:
                return self._ready.popleft()
            now = monotonic()
            self._expire(now)
            if self._paused_until and now >= self._paused_until:
                self._paused_until = 0.0
                self._poll.modify(self._fd, _IN)
            events = self._poll.poll(self._poll_timeout(now))
            if self._closed:
                continue
            listening = 0
            for fd, event in events:
                if fd == self._fd:
                    listening = event
                    continue
                pending = self._pending.get(fd)
                if pending is not None:
                    self._progress(pending)
            # New clients after the pending ones, a few at a time: under a flood of
            # new connections a handshake under way still advances every pass.
            if listening & _BROKEN:
                raise OSError(errno.EINVAL, "the listening socket was shut down")
            if listening:
                self._accept_batch()

    def _poll_timeout(self, now: float) -> int | None:
        """Milliseconds until the next deadline (None: no deadline)."""
        wake = []
        if self._timeout is not None and self._pending:
            wake.append(next(iter(self._pending.values())).deadline)
        if self._paused_until:
            wake.append(self._paused_until)
        if not wake:
            return None
        return max(0, int((min(wake) - now) * 1000) + 1)

    def _expire(self, now: float) -> None:
        # Deadlines grow with accept order, so the expired ones come first.
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if oldest.deadline > now:
                return
            self._drop(oldest, f"no handshake within {self._timeout} s", log.debug)

    def _accept_batch(self) -> None:
        """Take what the kernel has queued (a bounded batch, so pending handshakes
        are not starved under a flood), starting each handshake at once."""
        for _ in range(_ACCEPT_BATCH):
            if self._ready:
                return  # the caller gets it now; the rest wait in the kernel's queue
            try:
                sock, peer = self._sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _EXHAUSTED:
                    if self._pending:
                        self._drop(next(iter(self._pending.values())),
                                   f"dropped to make room ({exc})", log.info)
                        continue
                    log.info("listener paused accepting for %s s: %s", _ACCEPT_PAUSE, exc)
                    self._paused_until = monotonic() + _ACCEPT_PAUSE
                    self._poll.modify(self._fd, 0)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            self._start(sock, peer)

    def _start(self, sock: socket.socket, peer: Any) -> None:
        if len(self._pending) >= self._max_pending:
            self._drop(next(iter(self._pending.values())),
                       f"evicted: more than {self._max_pending} pending handshakes", log.debug)
        context = self._ssl_context
        tls = context is not None
        try:
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):  # see listener._no_delay
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handle: Any = start_server_side(sock, context) if context is not None else sock
        except OSError as exc:
            sock.close()
            log.debug("listener dropped a connection from %r: %s", peer, exc)
            return
        deadline = monotonic() + self._timeout if self._timeout is not None else float("inf")
        pending = _Pending(handle, peer, deadline, auth.server_steps(self._authkey), tls)
        self._pending[pending.fd] = pending
        self._poll.register(pending.fd, _IN)
        pending.events = _IN
        try:
            self._step(pending, None)
        except BaseException:
            self._drop(pending, "its handshake could not start", log.info)
            raise
        self._progress(pending)

    # -- one handshake ---------------------------------------------------------------

    def _progress(self, pending: _Pending) -> None:
        """Run ``pending``'s steps as far as its socket allows; file the result."""
        try:
            conn = self._advance(pending)
        except BaseException as exc:
            quiet = isinstance(exc, (EOFError, ConnectionError, _Dropped))
            self._drop(pending, repr(exc), log.debug if quiet else log.info)
            if not isinstance(exc, _EXPECTED + (_Dropped,)):
                raise  # a bug, not a client: the connection is gone, the error shows
            return
        if conn is not None:
            self._forget(pending)
            self._ready.append((conn, pending.peer))

    def _advance(self, pending: _Pending) -> Connection | None:
        """The Connection once the handshake is done; None while it waits for I/O."""
        try:
            if pending.tls_handshaking:
                pending.sock.do_handshake()
                pending.tls_handshaking = False
            while pending.kind is not None:
                if pending.kind == auth.RECV:
                    reply: bytes | None = self._read_frame(pending)
                else:
                    self._write_frame(pending)
                    reply = None
                self._step(pending, reply)
        except BlockingIOError:
            want = _IN if pending.kind == auth.RECV or pending.tls_handshaking else _OUT
        except self._want_read:
            want = _IN
        except self._want_write:
            want = _OUT
        else:
            return self._connection(pending)
        if want != pending.events:
            self._poll.modify(pending.fd, want)
            pending.events = want
        return None

    def _step(self, pending: _Pending, reply: bytes | None) -> None:
        try:
            kind, arg = pending.steps.send(reply)
        except StopIteration as stop:
            pending.kind, pending.check = None, stop.value
            return
        pending.kind, pending.arg = kind, arg
        if kind != auth.RECV:
            pending.out = memoryview(_HEADER.pack(len(arg)) + arg)

    def _write_frame(self, pending: _Pending) -> None:
        sock, tls = pending.sock, self._ssl_context is not None  # SSLSocket.send: no flags
        while pending.out:
            try:
                n = sock.send(pending.out) if tls else sock.send(pending.out, _MSG_NOSIGNAL)
            except self._would_block:
                raise
            except OSError:
                if pending.kind != auth.SEND_QUIETLY:
                    raise
                n = len(pending.out)  # a courtesy that failed: go on without it
            pending.out = pending.out[n:]

    def _read_frame(self, pending: _Pending) -> bytes:
        """Read exactly one frame (header, then payload), never past it: what the
        client sends after its handshake stays queued for the Connection."""
        sock, buf = pending.sock, pending.buf
        if pending.size < 0:
            while len(buf) < _HEADER.size:
                chunk = sock.recv(_HEADER.size - len(buf))
                if not chunk:
                    raise EOFError("the peer closed the connection during the handshake")
                buf += chunk
            (size,) = _HEADER.unpack(buf)
            if size > pending.arg:  # also the 0xFFFFFFFF mark of an 8-byte length
                raise _Dropped(f"the peer announced a {size}-byte handshake frame "
                               f"(at most {pending.arg})")
            pending.size = size
            buf.clear()
        while len(buf) < pending.size:
            chunk = sock.recv(pending.size - len(buf))
            if not chunk:
                raise EOFError("the peer closed the connection in the middle of a frame")
            buf += chunk
        payload = bytes(buf)
        buf.clear()
        pending.size = -1
        return payload

    def _connection(self, pending: _Pending) -> Connection:
        sock = pending.sock
        conn: Connection
        if self._ssl_context is not None:
            sock.settimeout(None)
            conn = TLSConnection(sock)
        else:
            sock.setblocking(True)
            conn = Connection(sock.detach())
        conn._first_frame_check = pending.check
        return conn

    def _forget(self, pending: _Pending) -> None:
        if self._pending.pop(pending.fd, None) is not None:
            self._poll.unregister(pending.fd)

    def _drop(self, pending: _Pending, reason: str, emit: Any) -> None:
        self._forget(pending)
        pending.steps.close()
        pending.sock.close()
        emit("listener dropped a pending connection from %r: %s", pending.peer, reason)

    # -- the socket without handshakes, and closing ------------------------------------

    def accept_socket(self) -> tuple[socket.socket, Any]:
        """One client's socket, blocking, without any handshake."""
        with self._lock:
            self._owner = threading.get_ident()
            try:
                waiter = select.poll()
                waiter.register(self._fd, _IN)
                while not self._closed:
                    try:
                        sock, peer = self._sock.accept()
                    except BlockingIOError:
                        if any(event & _BROKEN for _fd, event in waiter.poll()):
                            break
                        continue
                    sock.setblocking(True)
                    return sock, peer
                raise OSError("listener is closed")
            finally:
                self._owner = None
                if self._closed:
                    self._release()

    def close(self) -> None:
        """Stop: wake a blocked ``accept()`` (it raises OSError), close every socket."""
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a poll() in another thread
        except OSError:
            pass
        if self._owner == threading.get_ident():
            return  # called from inside accept() (a handler): it releases on its way out
        if self._lock.acquire(timeout=5):
            try:
                self._release()
            finally:
                self._lock.release()

    def _release(self) -> None:
        while self._pending:
            self._drop(next(iter(self._pending.values())), "the listener closed", log.debug)
        while self._ready:
            self._ready.popleft()[0].close()
        self._sock.close()
