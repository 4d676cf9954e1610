"""The manager wire protocol: requests, replies, serializers and remote errors.

A request is ``(ident, method, args, kwds)``; ``ident`` None addresses the server
itself. A reply is ``(kind, payload)``::

    #RETURN     the method's return value
    #ERROR      the exception the method raised (re-raised by the caller)
    #TRACEBACK  the server could not even run the call: a formatted traceback
                (raised as RemoteError)
    #PROXY      (exposed, token): the result lives in the server; make a proxy

Two serializers: "pickle" (mproc's Connection) and "xmlrpclib" (XML-RPC
marshalling of the same messages over the same framing).
"""

from __future__ import annotations

import functools
import traceback

from .._wire.connection import Connection
from .._wire.listener import Client, Listener

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "RemoteError",
    "dispatch",
    "convert_to_error",
    "format_remote_traceback",
    "listener_client",
    "Token",
]


class RemoteError(Exception):
    """An error the manager's server reported with its own traceback."""

    def __str__(self) -> str:
        return "\n" + "-" * 75 + "\n" + str(self.args[0]) + "-" * 75


class Token:
    """Which object in which server: (typeid, address, id)."""

    __slots__ = ("typeid", "address", "id")

    typeid: str
    address: Any
    id: str

    def __init__(self, typeid: str, address: Any, id: str) -> None:
        self.typeid, self.address, self.id = typeid, address, id

    def __getstate__(self) -> tuple[str, Any, str]:
        return (self.typeid, self.address, self.id)

    def __setstate__(self, state: tuple[str, Any, str]) -> None:
        self.typeid, self.address, self.id = state

    def __repr__(self) -> str:
        return f"{type(self).__name__}(typeid={self.typeid!r}, address={self.address!r}, id={self.id!r})"


def format_remote_traceback() -> str:
    return "".join(traceback.format_exc())


def convert_to_error(kind: str, result: Any) -> Exception:
    if kind == "#ERROR":
        return result  # type: ignore[no-any-return]
    if kind in ("#TRACEBACK", "#UNSERIALIZABLE"):
        if not isinstance(result, str):
            return TypeError(f"Result {result!r} (kind '{kind}') type is {type(result)}, not str")
        if kind == "#UNSERIALIZABLE":
            return RemoteError(f"Unserializable message: {result}\n")
        return RemoteError(result)
    return ValueError(f"Unrecognized message type {kind!r}")


def dispatch(conn: Any, ident: str | None, method: str, args: tuple[Any, ...] = (),
             kwds: dict[str, Any] | None = None) -> Any:
    """Call ``method`` on object ``ident`` in the server and return the result."""
    conn.send((ident, method, args, kwds or {}))
    kind, result = conn.recv()
    if kind == "#RETURN":
        return result
    try:
        raise convert_to_error(kind, result)
    finally:
        del result  # the traceback keeps this frame: no cycle through the error


class XmlConnection:
    """A Connection that marshals with XML-RPC instead of pickle."""

    def __init__(self, conn: Connection) -> None:
        import xmlrpc.client

        self._conn = conn
        self._xml = xmlrpc.client

    def send(self, obj: Any) -> None:
        self._conn.send_bytes(self._xml.dumps((obj,), None, None, None, True).encode("utf-8"))

    def recv(self) -> Any:
        (obj,), _method = self._xml.loads(self._conn.recv_bytes().decode("utf-8"))
        return obj

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def close(self) -> None:
        self._conn.close()


class XmlListener(Listener):
    def accept(self) -> XmlConnection:  # type: ignore[override]
        return XmlConnection(super().accept())

    def wrap_connection(self, conn: Connection) -> Any:
        return XmlConnection(conn)


def XmlClient(*args: Any, **kwds: Any) -> XmlConnection:  # noqa: N802 - stdlib-like name
    return XmlConnection(Client(*args, **kwds))


def listener_client(serializer: str, ssl_context: Any = None,
                    server_ssl_context: Any = None) -> tuple[Any, Any]:
    """(Listener class, Client function) for a serializer name, with TLS if given
    contexts (an SSLContext, or a function returning one)."""
    listener: Any
    client: Any
    if serializer == "pickle":
        listener, client = Listener, Client
    elif serializer == "xmlrpclib":
        listener, client = XmlListener, XmlClient
    else:
        raise ValueError(f"unknown serializer {serializer!r}: use 'pickle' or 'xmlrpclib'")
    if ssl_context is not None:
        client = functools.partial(client, ssl_context=ssl_context)
    if server_ssl_context is not None:
        listener = functools.partial(listener, ssl_context=server_ssl_context)
    return listener, client
