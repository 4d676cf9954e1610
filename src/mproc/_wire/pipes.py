"""Pipe(): two connected Connections.

Duplex pipes are Unix socketpairs; one-way pipes are OS pipes. Both get larger
kernel buffers where the platform allows, so a large message crosses in fewer
context switches.
"""

from __future__ import annotations

import os
import socket

from .connection import Connection

__all__ = ["Pipe"]

_BUFFER = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl; absent elsewhere


def _grow_pipe(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), _BUFFER)
    except (OSError, ImportError, ValueError):
        pass


def _grow_socket(sock: socket.socket) -> None:
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _BUFFER)
        except OSError:
            pass


def Pipe(duplex: bool = True) -> tuple[Connection, Connection]:  # noqa: N802 - stdlib name
    """Return ``(conn1, conn2)``; with ``duplex=False`` conn1 only reads, conn2 only writes."""
    if duplex:
        left, right = socket.socketpair()
        left.setblocking(True)  # a default socket timeout would make the fds non-blocking
        right.setblocking(True)
        _grow_socket(left)
        _grow_socket(right)
        return Connection(left.detach()), Connection(right.detach())
    read_fd, write_fd = os.pipe()
    _grow_pipe(write_fd)
    return Connection(read_fd, writable=False), Connection(write_fd, readable=False)
