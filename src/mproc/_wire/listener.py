"""Listener and Client: Connections over Unix and TCP sockets.

Every accepted connection starts with a handshake that has a deadline, so one
silent, slow or malicious client cannot hold ``accept()`` forever, and whose first
frame tells the client whether the listener wants an authkey, so a mismatch in
either direction fails at once with AuthenticationError instead of a deadlock::

    listener (key)                      client (key)
      CHALLENGE  ------------------->     answer_challenge
      deliver_challenge  <----------      CHALLENGE          (mutual)
    listener (no key)                   client (no key)
      OPEN  ------------------------>     dropped on first read, lazily
    mismatch: the side that notices sends FAILURE and raises; the other side
    raises when it reads FAILURE (or a non-answer) instead of what it expected.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct

from .._runtime.finalize import Finalize
from .._runtime.tempdir import get_temp_dir
from ..errors import AuthenticationError
from . import auth
from .connection import Connection
from .tls import TLSConnection, resolve_ssl_context, wrap_client_side, wrap_server_side

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Listener",
    "Client",
    "families",
    "default_family",
    "address_type",
    "arbitrary_address",
    "DEFAULT_HANDSHAKE_TIMEOUT",
]

DEFAULT_HANDSHAKE_TIMEOUT = 10.0
families = ["AF_INET"] + (["AF_UNIX"] if hasattr(socket, "AF_UNIX") else [])
default_family = "AF_UNIX" if "AF_UNIX" in families else "AF_INET"
_names = itertools.count()


def address_type(address: Any) -> str:
    """The family an address belongs to: 'AF_INET', 'AF_UNIX' or 'AF_PIPE'."""
    if isinstance(address, tuple):
        return "AF_INET"
    if isinstance(address, str) and address.startswith("\\\\"):
        return "AF_PIPE"
    if isinstance(address, (str, bytes)) or is_abstract_socket_namespace(address):
        return "AF_UNIX"
    raise ValueError(f"address type of {address!r} unrecognized")


def is_abstract_socket_namespace(address: Any) -> bool:
    if not address:
        return False
    if isinstance(address, bytes):
        return address[0] == 0
    if isinstance(address, str):
        return address[0] == "\0"
    return False


def _validate_family(family: str) -> None:
    if family == "AF_PIPE" or family not in families:
        raise ValueError(f"Family {family} is not recognized on this platform")


def arbitrary_address(family: str) -> Any:
    """A fresh address of ``family`` for a listener to bind to."""
    if family == "AF_INET":
        return ("localhost", 0)
    if family == "AF_UNIX":
        # Named in mproc's private temp dir (mode 0700), so a random suffix suffices;
        # ``tempfile`` (and the modules it imports) stays out of every process.
        name = f"listener-{os.getpid()}-{next(_names)}-{os.urandom(6).hex()}"
        return os.path.join(get_temp_dir(), name)
    raise ValueError(f"unrecognized family {family!r}")


def _socket_family(family: str, address: Any) -> int:
    if family == "AF_INET" and isinstance(address, tuple) and ":" in str(address[0]):
        return socket.AF_INET6
    return int(getattr(socket, family))


def _set_io_timeout(sock: socket.socket, seconds: float) -> None:
    """Kernel-level send/receive timeouts (0 = none), honoured by plain os.read."""
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def _connection_from(sock: socket.socket) -> Connection:
    sock.setblocking(True)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Connection(sock.detach())


def _run_handshake(conn: Connection, timeout: float | None, steps: Any) -> None:
    """Run ``steps(conn)`` under a deadline; any failure closes ``conn``."""
    if isinstance(conn, TLSConnection):
        conn.settimeout(timeout)
        try:
            _guarded_steps(conn, timeout, steps)
        finally:
            if not conn.closed:
                conn.settimeout(None)
        return
    with socket.socket(fileno=os.dup(conn.fileno())) as raw:
        raw.setblocking(True)  # the dup shares O_NONBLOCK with conn's fd
        if timeout:
            _set_io_timeout(raw, timeout)
        _guarded_steps(conn, timeout, steps)
        if timeout:
            _set_io_timeout(raw, 0)


def _guarded_steps(conn: Connection, timeout: float | None, steps: Any) -> None:
    try:
        steps(conn)
    except (BlockingIOError, TimeoutError):
        conn.close()
        raise AuthenticationError(
            f"the peer did not complete the connection handshake within {timeout} s"
        ) from None
    except (EOFError, ConnectionError) as exc:
        conn.close()
        raise AuthenticationError(
            f"the peer closed the connection during the handshake ({exc!r}); "
            "it may be using a different authkey"
        ) from None
    except BaseException:
        conn.close()
        raise


def _server_steps(authkey: bytes | None) -> Any:
    def steps(conn: Connection) -> None:
        if authkey is None:
            try:
                conn.send_bytes(auth.OPEN)
            except OSError:
                pass  # the client may have sent its message and closed already
            conn._first_frame_check = _refuse_failure_frame
        else:
            auth.deliver_challenge(conn, authkey)
            auth.answer_challenge(conn, authkey)
    return steps


def _client_steps(authkey: bytes | None) -> Any:
    def steps(conn: Connection) -> None:
        if authkey is None:
            conn._first_frame_check = _drop_open_frame
        else:
            auth.answer_challenge(conn, authkey)
            auth.deliver_challenge(conn, authkey)
    return steps


def _refuse_failure_frame(frame: bytes) -> bool:
    if frame == auth.FAILURE:
        raise AuthenticationError(
            "the client was given an authkey but this listener has none; "
            "give both sides the same authkey (or neither)"
        )
    return True


def _drop_open_frame(frame: bytes) -> bool:
    if frame == auth.OPEN:
        return False
    if frame.startswith(auth.CHALLENGE):
        raise AuthenticationError(
            "the listener requires an authkey but this client has none; "
            "pass authkey= to Client"
        )
    return True


class Listener:
    """Accept authenticated Connections on a Unix or TCP address."""

    def __init__(
        self,
        address: Any = None,
        family: str | None = None,
        backlog: int = 1,
        authkey: bytes | None = None,
        *,
        handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
        ssl_context: Any = None,
    ) -> None:
        family = family or (address_type(address) if address is not None else default_family)
        _validate_family(family)
        address = address if address is not None else arbitrary_address(family)
        if authkey is not None and not isinstance(authkey, bytes):
            raise TypeError("authkey should be a byte string")
        sock = socket.socket(_socket_family(family, address))
        try:
            if family != "AF_UNIX":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(True)
            sock.bind(address)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        self._socket: socket.socket | None = sock
        self._family = family
        self._address = sock.getsockname()
        self._authkey = authkey
        self._handshake_timeout = handshake_timeout
        self._ssl_context = resolve_ssl_context(ssl_context)
        self._last_accepted: Any = None
        if family == "AF_UNIX" and not is_abstract_socket_namespace(address):
            self._unlink: Finalize | None = Finalize(self, os.unlink, args=(address,),
                                                      exitpriority=0)
        else:
            self._unlink = None

    def accept(self) -> Connection:
        """Wait for a client, authenticate it, and return the connection."""
        return self.authenticate(self.accept_unauthenticated())

    def accept_unauthenticated(self) -> socket.socket:
        """Accept a client's socket without any handshake; a server then calls
        ``authenticate`` on its own thread, so that a slow client delays nobody."""
        if self._socket is None:
            raise OSError("listener is closed")
        while True:
            try:
                raw, self._last_accepted = self._socket.accept()
                return raw
            except InterruptedError:
                continue

    def authenticate(self, sock: socket.socket) -> Connection:
        """TLS (if configured) and the authkey handshake, under the deadline."""
        if self._ssl_context is not None:
            try:
                conn: Connection = wrap_server_side(sock, self._ssl_context,
                                                    self._handshake_timeout)
            except BaseException:
                sock.close()
                raise
        else:
            conn = _connection_from(sock)
        _run_handshake(conn, self._handshake_timeout, _server_steps(self._authkey))
        return conn

    def wrap_connection(self, conn: Connection) -> Any:
        """What ``accept`` hands out for an authenticated connection (a hook for
        listeners that speak another serialization over the same framing)."""
        return conn

    def close(self) -> None:
        """Stop listening: close the socket (and remove a Unix socket's file)."""
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()
        unlink, self._unlink = self._unlink, None
        if unlink is not None:
            try:
                unlink()
            except FileNotFoundError:
                pass

    @property
    def address(self) -> Any:
        """The address the listener is bound to (with the real port if it was 0)."""
        return self._address

    @property
    def last_accepted(self) -> Any:
        """The address of the peer of the last accepted connection."""
        return self._last_accepted

    def fileno(self) -> int:
        """The listening socket's file descriptor (for ``select``); OSError once closed."""
        if self._socket is None:
            raise OSError("listener is closed")
        return self._socket.fileno()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._family} {self._address!r}>"


def Client(  # noqa: N802 - stdlib name
    address: Any,
    family: str | None = None,
    authkey: bytes | None = None,
    *,
    handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
    ssl_context: Any = None,
    server_hostname: str | None = None,
) -> Connection:
    """Connect to a Listener at ``address`` and return the Connection.

    With ``ssl_context`` the connection is TLS; ``server_hostname`` defaults to the
    address's host when the context checks host names.
    """
    family = family or address_type(address)
    _validate_family(family)
    if authkey is not None and not isinstance(authkey, bytes):
        raise TypeError("authkey should be a byte string")
    sock = socket.socket(_socket_family(family, address))
    try:
        sock.setblocking(True)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    context = resolve_ssl_context(ssl_context)
    if context is None:
        conn = _connection_from(sock)
    else:
        if server_hostname is None and context.check_hostname and isinstance(address, tuple):
            server_hostname = str(address[0])
        try:
            conn = wrap_client_side(sock, context, server_hostname, handshake_timeout)
        except BaseException:
            sock.close()
            raise
    _run_handshake(conn, handshake_timeout, _client_steps(authkey))
    return conn
