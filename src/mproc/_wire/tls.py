"""Connections over TLS: the same framing, read and written through an SSLSocket.

Listener and Client take ``ssl_context=``: an ``ssl.SSLContext``, or a function of
no arguments that returns one. The function form can be pickled, so it reaches
manager processes started with spawn or forkserver, and proxies sent to other
processes; an SSLContext object cannot be.
"""

from __future__ import annotations

import select

from .connection import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any

__all__ = ["TLSConnection", "resolve_ssl_context", "wrap_server_side", "wrap_client_side",
           "start_server_side"]


def resolve_ssl_context(context: Any) -> ssl.SSLContext | None:
    """An SSLContext from ``context`` (an SSLContext, a factory, or None)."""
    if context is None:
        return None
    import ssl

    if isinstance(context, ssl.SSLContext):
        return context
    if callable(context):
        made = context()
        if not isinstance(made, ssl.SSLContext):
            raise TypeError(f"ssl_context factory returned {type(made).__name__}, not SSLContext")
        return made
    raise TypeError(f"ssl_context must be an ssl.SSLContext or a function returning one, "
                    f"not {type(context).__name__}")


class TLSConnection(Connection):
    """A Connection whose bytes go through TLS."""

    def __init__(self, ssl_sock: ssl.SSLSocket, readable: bool = True,
                 writable: bool = True) -> None:
        super().__init__(ssl_sock.fileno(), readable, writable)
        self._ssl = ssl_sock
        self._sock = False  # no recv(MSG_WAITALL) through TLS

    def _close(self) -> None:
        self._ssl.close()

    def _raw_readinto(self, view: memoryview) -> int:
        return self._ssl.recv_into(view)

    def _raw_write(self, data: Any) -> int:
        return self._ssl.send(data)

    def _raw_writev(self, parts: list[Any]) -> int:
        total = 0
        for part in parts:
            self._ssl.sendall(part)
            total += len(part)
        return total

    def _has_buffered_data(self) -> bool:
        return super()._has_buffered_data() or bool(self._ssl.pending())

    def _raw_wait_readable(self, timeout: float | None) -> bool:
        if self._ssl.pending():
            return True
        poller = select.poll()
        poller.register(self._ssl.fileno(), select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(poller.poll(ms))

    def settimeout(self, timeout: float | None) -> None:
        self._ssl.settimeout(timeout)

    def __reduce__(self) -> Any:
        raise TypeError(
            "a TLS connection cannot be sent to another process (its TLS session lives "
            "in this one); open a new connection there instead"
        )


def wrap_server_side(sock: Any, context: ssl.SSLContext, timeout: float | None) -> TLSConnection:
    sock.settimeout(timeout)
    ssl_sock = context.wrap_socket(sock, server_side=True)
    return TLSConnection(ssl_sock)


def start_server_side(sock: Any, context: ssl.SSLContext) -> ssl.SSLSocket:
    """A non-blocking server-side SSLSocket whose TLS handshake has not run yet:
    the listener's engine drives ``do_handshake()`` as the socket becomes ready, so
    one client's slow TLS handshake holds up no other's."""
    sock.setblocking(False)
    return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)


def wrap_client_side(sock: Any, context: ssl.SSLContext, server_hostname: str | None,
                     timeout: float | None) -> TLSConnection:
    sock.settimeout(timeout)
    ssl_sock = context.wrap_socket(sock, server_hostname=server_hostname)
    return TLSConnection(ssl_sock)
