"""Listener and Client: Connections over Unix and TCP sockets.

Every accepted connection starts with a handshake whose first frame tells the
client whether the listener wants an authkey, so a mismatch in either direction
fails at once with AuthenticationError instead of a deadlock::

    listener (key)                      client (key)
      CHALLENGE  ------------------->     answer_challenge
      deliver_challenge  <----------      CHALLENGE          (mutual)
    listener (no key)                   client (no key)
      OPEN  ------------------------>     dropped on first read, lazily
    mismatch: the side that notices sends FAILURE and raises; the other side
    raises when it reads FAILURE (or a non-answer) instead of what it expected.

``Listener.accept()`` runs the handshakes of all pending clients at once (see
``accepting.py``): a silent, slow or malicious client delays nobody, a failed
handshake is dropped (and logged) rather than raised, and at most ``max_pending``
handshakes are held. ``Client`` and ``Listener.authenticate`` run the same steps
blocking, under ``handshake_timeout``.
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
from .accepting import DEFAULT_MAX_PENDING, HandshakeEngine
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
    "DEFAULT_MAX_PENDING",
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


def _no_delay(sock: socket.socket) -> None:
    """TCP_NODELAY: small frames sent back to back (a handshake's last frame and the
    first message; a request and the next) must not wait for the peer's delayed ACK
    (40 ms), over TLS as much as in the clear."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _connection_from(sock: socket.socket) -> Connection:
    sock.setblocking(True)
    _no_delay(sock)
    return Connection(sock.detach())


def _run_handshake(conn: Connection, timeout: float | None, steps: Any) -> None:
    """Run the handshake ``steps`` on ``conn`` under a deadline; failure closes it."""
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
        conn._first_frame_check = auth.run_steps(conn, steps)
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


class Listener:
    """Accept authenticated Connections on a Unix or TCP address.

    ``handshake_timeout`` bounds each client's handshake (from its own accept);
    ``max_pending`` bounds how many handshakes are in progress at once (past it,
    the oldest pending one is dropped).
    """

    def __init__(
        self,
        address: Any = None,
        family: str | None = None,
        backlog: int = 1,
        authkey: bytes | None = None,
        *,
        handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
        ssl_context: Any = None,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        family = family or (address_type(address) if address is not None else default_family)
        _validate_family(family)
        address = address if address is not None else arbitrary_address(family)
        if authkey is not None and not isinstance(authkey, bytes):
            raise TypeError("authkey should be a byte string")
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, not {max_pending}")
        ssl_context = resolve_ssl_context(ssl_context)
        sock = socket.socket(_socket_family(family, address))
        try:
            if family != "AF_UNIX":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
        self._ssl_context = ssl_context
        self._engine = HandshakeEngine(sock, authkey, handshake_timeout, ssl_context,
                                       max_pending)
        self._last_accepted: Any = None
        if family == "AF_UNIX" and not is_abstract_socket_namespace(address):
            self._unlink: Finalize | None = Finalize(self, os.unlink, args=(address,),
                                                      exitpriority=0)
        else:
            self._unlink = None

    def accept(self) -> Connection:
        """The next client to complete its handshake (TLS if configured, then the
        authkey's), as a Connection.

        Handshakes of all pending clients proceed together, so a client that is
        silent, slow or sends half a message delays no other; one that fails or
        overruns ``handshake_timeout`` is dropped and logged, and ``accept()`` goes
        on waiting (it does not raise for a client's failure). One thread at a time
        runs the handshakes; a second caller waits for the first. Raises OSError
        once the listener is closed (also in a thread blocked here).
        """
        return self.accept_raw()

    def accept_raw(self) -> Connection:
        """``accept()`` before ``wrap_connection``: the transport's own Connection,
        for servers that tune it (message limit, fast lane) and then wrap it."""
        if self._socket is None:
            raise OSError("listener is closed")
        conn, self._last_accepted = self._engine.accept()
        return conn

    def accept_unauthenticated(self) -> socket.socket:
        """Accept a client's socket without any handshake (a blocking socket), for
        a caller that runs ``authenticate`` itself, e.g. on a thread of its own."""
        if self._socket is None:
            raise OSError("listener is closed")
        sock, self._last_accepted = self._engine.accept_socket()
        return sock

    def authenticate(self, sock: socket.socket) -> Connection:
        """TLS (if configured) and the authkey handshake, blocking, under the deadline;
        raises AuthenticationError (or ssl.SSLError) if the client fails it."""
        if self._ssl_context is not None:
            try:
                _no_delay(sock)
                conn: Connection = wrap_server_side(sock, self._ssl_context,
                                                    self._handshake_timeout)
            except BaseException:
                sock.close()
                raise
        else:
            conn = _connection_from(sock)
        _run_handshake(conn, self._handshake_timeout, auth.server_steps(self._authkey))
        return conn

    def wrap_connection(self, conn: Connection) -> Any:
        """What ``accept`` hands out for an authenticated connection (a hook for
        listeners that speak another serialization over the same framing)."""
        return conn

    def close(self) -> None:
        """Stop listening: close the socket (and remove a Unix socket's file)."""
        sock, self._socket = self._socket, None
        if sock is not None:
            self._engine.close()  # wakes a thread blocked in accept()
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
            _no_delay(sock)
            conn = wrap_client_side(sock, context, server_hostname, handshake_timeout)
        except BaseException:
            sock.close()
            raise
    _run_handshake(conn, handshake_timeout, auth.client_steps(authkey))
    return conn
