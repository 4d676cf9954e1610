"""Proxies: local stand-ins that forward method calls to a manager's objects.

Each thread of each process keeps one connection per manager (opened on first
use). A proxy holds a reference in the server (incref on creation, decref when the
proxy is collected), so an object lives exactly as long as someone can reach it.
Proxies pickle as their token, so they can be passed to other processes and
stored inside other managed objects.
"""

from __future__ import annotations

import threading
import weakref

from .._process import current_process
from .._runtime import log
from .._runtime.finalize import Finalize
from .._runtime.state import ForkAwareLocal, ForkAwareThreadLock, register_after_fork
from .._serialize.spawning import spawning_launcher
from .channel import Channel, fast_lane
from .protocol import Token, convert_to_error, dispatch, listener_client
from .server import current_server

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BaseProxy", "AutoProxy", "MakeProxyType", "RebuildProxy", "CLIENT_SPIN_SECONDS"]

# How long a proxy polls for its reply before sleeping (see Connection.spin_seconds).
CLIENT_SPIN_SECONDS = 100e-6


class BaseProxy:
    """Base class of every proxy type."""

    _address_to_local: dict[Any, list[Any]] = {}
    _mutex = ForkAwareThreadLock()
    _exposed_: tuple[str, ...] | None = None
    _method_to_typeid_: dict[str, str] | None = None

    def __init__(self, token: Token, serializer: str, manager: Any = None,
                 authkey: bytes | None = None, exposed: Any = None, incref: bool = True,
                 manager_owned: bool = False, ssl_context: Any = None) -> None:
        with BaseProxy._mutex:
            entry = BaseProxy._address_to_local.get(token.address)
            if entry is None:
                entry = [ForkAwareLocal(), _IdSet()]
                BaseProxy._address_to_local[token.address] = entry
        self._tls, self._idset = entry
        self._token = token
        self._id = token.id
        self._manager = manager
        self._serializer = serializer
        if ssl_context is None and manager is not None:
            ssl_context = manager._ssl_context
        self._ssl_context = ssl_context
        self._Client = listener_client(serializer, ssl_context)[1]
        self._owned_by_manager = manager_owned
        if authkey is not None:
            self._authkey = bytes(authkey)
        elif manager is not None:
            self._authkey = bytes(manager._authkey)
        else:
            self._authkey = bytes(current_process().authkey)
        if incref:
            self._incref()
        _LIVE_PROXIES.add(self)

    def _connect(self) -> None:
        log.debug("making connection to manager")
        name = current_process().name
        if threading.current_thread().name != "MainThread":
            name += "|" + threading.current_thread().name
        conn = self._Client(self._token.address, authkey=self._authkey)
        dispatch(conn, None, "accept_connection", (name,))
        self._tls.connection = fast_lane(conn, CLIENT_SPIN_SECONDS)

    def _callmethod(self, methodname: str, args: tuple[Any, ...] = (),
                    kwds: dict[str, Any] | None = None) -> Any:
        """Call ``methodname`` on the referent and return its result."""
        try:
            conn = self._tls.connection
        except AttributeError:
            log.debug("thread %r does not own a connection", threading.current_thread().name)
            self._connect()
            conn = self._tls.connection
        if type(conn) is Channel:
            kind, result = conn.call(self._id, methodname, args, kwds)
        else:
            conn.send((self._id, methodname, args, kwds or {}))
            kind, result = conn.recv()
        if kind == "#RETURN":
            return result
        if kind == "#PROXY":
            exposed, token = result
            proxytype = self._manager._registry[token.typeid][-1] if self._manager else AutoProxy
            token.address = self._token.address
            proxy = proxytype(token, self._serializer, manager=self._manager,
                              authkey=self._authkey, exposed=exposed,
                              ssl_context=self._ssl_context)
            conn = self._Client(token.address, authkey=self._authkey)
            dispatch(conn, None, "decref", (token.id,))
            return proxy
        try:
            raise convert_to_error(kind, result)
        finally:
            del result  # the traceback keeps this frame: no cycle through the error

    def _getvalue(self) -> Any:
        """A copy of the referent."""
        return self._callmethod("#GETVALUE")

    def _incref(self) -> None:
        if self._owned_by_manager:
            log.debug("owned_by_manager skipped INCREF of %r", self._token.id)
            return
        conn = self._Client(self._token.address, authkey=self._authkey)
        try:
            dispatch(conn, None, "incref", (self._id,))
        finally:
            conn.close()
        log.debug("INCREF %r", self._token.id)
        self._track_reference()

    def _track_reference(self) -> None:
        """Remember our reference in the server; drop it when this proxy dies."""
        self._idset.add(self._id)
        state = self._manager and self._manager._state
        self._close = Finalize(
            self, BaseProxy._decref,
            args=(self._token, self._authkey, state, self._tls, self._idset, self._Client),
            exitpriority=10)

    @staticmethod
    def _decref(token: Token, authkey: bytes, state: Any, tls: Any, idset: Any,
                client: Any) -> None:
        idset.discard(token.id)
        if state is None or state.value == _STARTED:
            try:
                conn = client(token.address, authkey=authkey)
                dispatch(conn, None, "decref", (token.id,))
            except Exception as exc:
                log.debug("... decref failed %s", exc)
        if not idset and hasattr(tls, "connection"):
            log.debug("thread %r has no more proxies so closing conn",
                      threading.current_thread().name)
            tls.connection.close()
            del tls.connection

    def __reduce__(self) -> Any:
        return self._reduce(with_authkey=spawning_launcher() is not None)

    def __reduce_for_cluster__(self) -> Any:
        """How a pool on a cluster (``Pool(backend="dask")``) sends this proxy: with the
        manager's authkey, which a worker on another machine has no other way to know
        (the stdlib sends it only to children it spawns)."""
        return self._reduce(with_authkey=True)

    def _reduce(self, with_authkey: bool) -> Any:
        kwds: dict[str, Any] = {}
        if with_authkey:
            kwds["authkey"] = bytes(self._authkey)
        if self._ssl_context is not None:
            import ssl

            if isinstance(self._ssl_context, ssl.SSLContext):
                raise TypeError(
                    "a proxy to a TLS manager can only be sent to another process when the "
                    "manager was given a function that builds its SSLContext, not an object")
            kwds["ssl_context"] = self._ssl_context
        if getattr(self, "_isauto", False):
            kwds["exposed"] = self._exposed_
            return (RebuildProxy, (AutoProxy, self._token, self._serializer, kwds))
        return (RebuildProxy, (type(self), self._token, self._serializer, kwds))

    def __deepcopy__(self, memo: Any) -> Any:
        return self._getvalue()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object, typeid {self._token.typeid!r} at {id(self):#x}>"

    def __str__(self) -> str:
        try:
            return str(self._callmethod("__repr__"))
        except Exception:
            return repr(self)[:-1] + "; '__str__()' failed>"


_STARTED = 1
_LIVE_PROXIES: weakref.WeakSet[BaseProxy] = weakref.WeakSet()
_PIPELINE = 256  # increfs in flight on one connection (both socket buffers stay far from full)


class _AfterFork:
    """Re-takes every live proxy's reference in a forked child.

    One connection per manager, with the increfs pipelined, rather than a new
    authenticated connection per proxy: a child forked from a process holding
    thousands of proxies starts in milliseconds, not seconds.
    """

    def __call__(self) -> None:
        groups: dict[tuple[Any, ...], list[BaseProxy]] = {}
        for proxy in list(_LIVE_PROXIES):
            proxy._manager = None
            if proxy._owned_by_manager:
                continue
            key = (proxy._token.address, proxy._authkey, proxy._serializer,
                   id(proxy._ssl_context))
            groups.setdefault(key, []).append(proxy)
        for proxies in groups.values():
            try:
                _incref_all(proxies)
            except Exception as exc:
                log.info("incref after fork failed: %s", exc)


def _incref_all(proxies: list[BaseProxy]) -> None:
    first = proxies[0]
    conn = first._Client(first._token.address, authkey=first._authkey)
    try:
        for start in range(0, len(proxies), _PIPELINE):
            window = proxies[start:start + _PIPELINE]
            for proxy in window:
                conn.send((None, "incref", (proxy._id,), {}))
            for proxy in window:
                kind, result = conn.recv()
                if kind == "#RETURN":
                    proxy._track_reference()
                else:
                    log.info("incref failed: %s", convert_to_error(kind, result))
    finally:
        conn.close()


_after_fork_hook = _AfterFork()
register_after_fork(_after_fork_hook, lambda hook: hook())


class _IdSet(set):  # type: ignore[type-arg]
    pass


def RebuildProxy(func: Any, token: Token, serializer: str, kwds: dict[str, Any]) -> Any:  # noqa: N802
    """Unpickle a proxy; inside its own manager's server, as a manager-owned proxy."""
    server = current_server()
    if server is not None and server.address == token.address:
        log.debug("Rebuild a proxy owned by manager, token=%r", token)
        kwds["manager_owned"] = True
        if token.id not in server.id_to_local_proxy_obj and token.id in server.id_to_obj:
            server.id_to_local_proxy_obj[token.id] = server.id_to_obj[token.id]
    incref = kwds.pop("incref", True) and not getattr(current_process(), "_inheriting", False)
    return func(token, serializer, incref=incref, **kwds)


_proxy_type_cache: dict[tuple[str, tuple[str, ...]], type] = {}


def MakeProxyType(name: str, exposed: Any, _cache: Any = _proxy_type_cache) -> type:  # noqa: N802
    """A BaseProxy subclass whose methods named in ``exposed`` call the referent."""
    exposed = tuple(exposed)
    try:
        return _cache[(name, exposed)]  # type: ignore[no-any-return]
    except KeyError:
        pass
    namespace: dict[str, Any] = {}
    for meth in exposed:
        namespace[meth] = _forwarder(meth)
    proxy_type = type(name, (BaseProxy,), namespace)
    proxy_type._exposed_ = exposed  # type: ignore[attr-defined]
    _cache[(name, exposed)] = proxy_type
    return proxy_type


def _forwarder(name: str) -> Any:
    def method(self: BaseProxy, /, *args: Any, **kwds: Any) -> Any:
        return self._callmethod(name, args, kwds)

    method.__name__ = method.__qualname__ = name
    return method


def _ask_server(token: Token, serializer: str, ssl_context: Any, authkey: bytes | None,
                method: str, *args: Any) -> Any:
    """One call to a server method over a connection of its own."""
    conn = listener_client(serializer, ssl_context)[1](token.address, authkey=authkey)
    try:
        return dispatch(conn, None, method, args)
    finally:
        conn.close()


def AutoProxy(token: Token, serializer: str, manager: Any = None, authkey: bytes | None = None,  # noqa: N802
              exposed: Any = None, incref: bool = True, manager_owned: bool = False,
              ssl_context: Any = None) -> Any:
    """A proxy whose methods are whatever the referent exposes."""
    if manager is not None:
        ssl_context = ssl_context if ssl_context is not None else manager._ssl_context
    if exposed is None:  # ask the server what the object offers
        exposed = _ask_server(token, serializer, ssl_context, authkey, "get_methods", token)
    if authkey is None:
        authkey = manager._authkey if manager is not None else current_process().authkey
    proxy_type = MakeProxyType(f"AutoProxy[{token.typeid}]", exposed)
    proxy = proxy_type(token, serializer, manager=manager, authkey=authkey, incref=incref,
                       manager_owned=manager_owned, ssl_context=ssl_context)
    proxy._isauto = True
    return proxy

