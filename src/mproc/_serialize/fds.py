"""Moving file descriptors between processes.

Two cases. A child being started gets its fds from its launcher (inherited under
fork, passed at exec under spawn, sent with the request under forkserver): the
pickled form is then just a number that is valid in the child. A process that is
already running gets them from the *fd sharer*: a thread in the sending process that
serves each shared fd once, over a Unix socket in the private temp dir, to whoever
presents its random 32-byte token, using SCM_RIGHTS.
"""

from __future__ import annotations

import array
import os
import sys
import threading

from .._runtime.finalize import Finalize
from .._runtime.state import STATE, register_after_fork_on_use
from .._runtime.tempdir import get_temp_dir
from .pickler import register_deferred
from .spawning import spawning_launcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any, Final

__all__ = [
    "HAVE_SEND_HANDLE",
    "sendfds",
    "recvfds",
    "send_handle",
    "recv_handle",
    "DupFd",
    "InheritedFd",
    "NumberedFd",
    "SharedFd",
    "stop",
]

HAVE_SEND_HANDLE = sys.platform != "win32"
_TOKEN_BYTES = 32


def sendfds(sock: socket.socket, fds: list[int]) -> None:
    """Send ``fds`` over the Unix socket ``sock`` with one byte of payload."""
    import socket

    payload = array.array("i", fds)
    sock.sendmsg([bytes([len(fds) % 256])], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, payload)])


def recvfds(sock: socket.socket, size: int) -> list[int]:
    """Receive up to ``size`` fds sent by ``sendfds``."""
    import socket

    payload = array.array("i")
    msg, ancdata, _flags, _addr = sock.recvmsg(1, socket.CMSG_SPACE(size * payload.itemsize))
    if not msg and not ancdata:
        raise EOFError("the peer closed the socket before sending file descriptors")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - (len(data) % payload.itemsize)
            payload.frombytes(data[:usable])
            if len(payload) % 256 != msg[0]:
                raise AssertionError(
                    f"received {len(payload)} fds, the sender announced {msg[0]}"
                )
            return list(payload)
    raise RuntimeError(
        f"expected file descriptors from the peer, received {len(ancdata)} ancillary items"
    )


def _socket_of(conn: Any) -> socket.socket:
    import socket

    sock = socket.socket(fileno=os.dup(conn.fileno()))
    sock.setblocking(True)  # the dup shares O_NONBLOCK with the connection's fd
    return sock


def send_handle(conn: Any, handle: int, destination_pid: int | None = None) -> None:
    """Send the fd ``handle`` over ``conn`` (a Connection over a Unix socket)."""
    with _socket_of(conn) as sock:
        sendfds(sock, [handle])


def recv_handle(conn: Any) -> int:
    """Receive one fd sent with ``send_handle``."""
    with _socket_of(conn) as sock:
        return recvfds(sock, 1)[0]


class InheritedFd:
    """The index of an fd in the list the launcher handed to the child."""

    def __init__(self, index: int) -> None:
        self.index = index

    def detach(self) -> int:
        return STATE.inherited_fds[self.index]


class NumberedFd:
    """An fd that keeps its number in the child: what a launcher written against
    the stdlib's protocol (loky's) returns from ``duplicate_for_child``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def detach(self) -> int:
        return self.fd


class SharedFd:
    """A claim ticket for an fd held by another process's fd sharer."""

    def __init__(self, address: str, token: bytes) -> None:
        self.address = address
        self.token = token

    def detach(self) -> int:
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(self.address)
            sock.sendall(self.token)
            return recvfds(sock, 1)[0]


class _FdSharer:
    """Serves each registered fd once to the holder of its token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[bytes, int] = {}
        self._listener: socket.socket | None = None
        self._address: str | None = None
        self._thread: threading.Thread | None = None

    def _forget(self) -> None:
        # The serving thread does not exist in a forked child; start afresh.
        self._lock = threading.Lock()
        for fd in self._pending.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._pending.clear()
        self._listener = None
        self._address = None
        self._thread = None

    def share(self, fd: int) -> SharedFd:
        dup = os.dup(fd)
        token = os.urandom(_TOKEN_BYTES)
        register_after_fork_on_use(self, _FdSharer._forget)
        with self._lock:
            self._pending[token] = dup
            if self._listener is None:
                self._start()
            assert self._address is not None
            return SharedFd(self._address, token)

    def _start(self) -> None:
        import socket

        address = os.path.join(get_temp_dir(), f"fds-{os.getpid()}-{os.urandom(4).hex()}")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(64)
        self._listener, self._address = listener, address
        self._thread = threading.Thread(target=self._serve, args=(listener,),
                                        name="mproc-fd-sharer", daemon=True)
        self._thread.start()
        Finalize(self, _FdSharer._stop, args=(self, listener), exitpriority=0)

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(10.0)
                    token = b""
                    while len(token) < _TOKEN_BYTES:
                        chunk = conn.recv(_TOKEN_BYTES - len(token))
                        if not chunk:
                            break
                        token += chunk
                    with self._lock:
                        fd = self._pending.pop(token, None)
                    if fd is not None:
                        try:
                            sendfds(conn, [fd])
                        finally:
                            os.close(fd)
                except OSError:
                    continue

    @staticmethod
    def _stop(sharer: _FdSharer, listener: socket.socket) -> None:
        import socket

        with sharer._lock:
            if sharer._listener is listener:
                sharer._listener = None
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()


    def stop(self, timeout: float | None = None) -> None:
        """Stop serving: close the listening socket and wait for the thread."""
        register_after_fork_on_use(self, _FdSharer._forget)
        with self._lock:
            listener, thread = self._listener, self._thread
            self._thread = None
        if listener is not None:
            _FdSharer._stop(self, listener)
        if thread is not None:
            thread.join(timeout)


_sharer = _FdSharer()
stop: Final = _sharer.stop


def DupFd(fd: int) -> InheritedFd | NumberedFd | SharedFd:  # noqa: N802 - the stdlib's name
    """A picklable stand-in for ``fd`` that ``detach()``es to an fd in the receiver."""
    launcher = spawning_launcher()
    if launcher is not None:
        handed = launcher.duplicate_for_child(fd)
        if getattr(launcher, "fds_by_index", False):  # mproc's launchers
            return InheritedFd(handed)
        return NumberedFd(handed)
    if not HAVE_SEND_HANDLE:
        raise ValueError("this platform cannot pass file descriptors between processes")
    return _sharer.share(fd)


def _rebuild_socket(dupfd: Any, family: int, kind: int, proto: int) -> socket.socket:
    import socket

    return socket.socket(family, kind, proto, fileno=dupfd.detach())


def _reduce_socket(sock: socket.socket) -> Any:
    return _rebuild_socket, (DupFd(sock.fileno()), sock.family, sock.type, sock.proto)


register_deferred("socket", "socket", _reduce_socket)
