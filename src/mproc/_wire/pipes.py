"""Pipe(): two connected Connections.

Duplex pipes are Unix socketpairs; one-way pipes are OS pipes, as the stdlib's. Both
get larger kernel buffers where the platform allows, so a large message crosses in
fewer context switches.

A one-way socketpair was measured too (docs/decisions.md, "One-way pipes stay OS
pipes"): no faster for 1 MiB messages than a pipe grown to 1 MiB, and slower for small
ones and to create, so it is not used.
"""

from __future__ import annotations

import _socket
import os
import socket

from .connection import Connection, grow_pipe

__all__ = ["Pipe", "os_pipe"]

_BUFFER = 1 << 20
_grow_pipe = grow_pipe


def _grow_socket(sock: _socket.socket, options: tuple[int, ...] = (socket.SO_SNDBUF,
                                                                 socket.SO_RCVBUF)) -> None:
    for option in options:
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _BUFFER)
        except OSError:
            pass


def _pair() -> tuple[_socket.socket, _socket.socket]:
    left, right = _socket.socketpair()  # the C call: no Python wrapper objects
    if socket.getdefaulttimeout() is not None:
        # A default socket timeout makes new sockets non-blocking; Connections block.
        left.setblocking(True)
        right.setblocking(True)
    return left, right


def Pipe(duplex: bool = True) -> tuple[Connection, Connection]:  # noqa: N802 - stdlib name
    """Return ``(conn1, conn2)``; with ``duplex=False`` conn1 only reads, conn2 only writes."""
    if not duplex:
        return os_pipe()
    left, right = _pair()
    _grow_socket(left)
    _grow_socket(right)
    return Connection(left.detach()), Connection(right.detach())


def os_pipe() -> tuple[Connection, Connection]:
    """A one-way ``(reader, writer)`` pair over an OS pipe, grown (where allowed)
    before the first large message is written."""
    read_fd, write_fd = os.pipe()
    writer = Connection(write_fd, readable=False)
    writer._grow_pending = True
    return Connection(read_fd, writable=False), writer
