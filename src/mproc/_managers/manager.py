"""BaseManager and SyncManager: start, connect to and stop a manager's server.

::

    BaseManager.start()                      manager process
      Pipe(r, w); Process(run_server) ---->  Server(registry, address, authkey)
      r.recv() <- ("ok", address) --------   serve_forever()   (see server.py)
      Finalize(_finalize_manager)            ...
    manager.Foo(*args)
      Client -> ("create", "Foo", args) -->  registry["Foo"].callable(*args)
      <- (ident, exposed): proxy(token)

A manager process is not daemonic (it may start a Pool), but it watches its parent
and shuts down when the parent is gone, so it is never orphaned.
"""

from __future__ import annotations

import os
import queue
import threading

from .._context import default_context
from .._process import AuthenticationString, current_process
from .._runtime import log
from .._runtime.finalize import Finalize
from .._wire.pipes import Pipe
from ..errors import ProcessError
from .builtin import (
    AcquirerProxy,
    Array,
    ArrayProxy,
    BarrierProxy,
    ConditionProxy,
    DictProxy,
    EventProxy,
    IteratorProxy,
    ListProxy,
    Namespace,
    NamespaceProxy,
    PoolProxy,
    SetProxy,
    Value,
    ValueProxy,
)
from .protocol import Token, dispatch, listener_client
from .proxies import AutoProxy, BaseProxy
from .server import Server, run_server

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any, TypeVar, overload

    from .builtin import _K, _T, _V

    _M = TypeVar("_M", bound="BaseManager")

__all__ = ["BaseManager", "SyncManager", "State", "make_pool"]


class State:
    """The lifecycle of a manager: INITIAL -> STARTED -> SHUTDOWN."""

    __slots__ = ["value"]
    INITIAL = 0
    STARTED = 1
    SHUTDOWN = 2

    def __init__(self) -> None:
        self.value = State.INITIAL


class BaseManager:
    """Base class for managers: a server that holds objects and serves proxies to them.

    Subclass it and ``register()`` the types or callables it serves, then either
    ``start()`` a server process, ``get_server().serve_forever()`` in this process,
    or ``connect()`` to a server that is already running at ``address``.

    Args:
        address: where the server listens, or the server to connect to: a
            ``(host, port)`` tuple for TCP (port 0: any free port), a path for a
            Unix socket; None: a fresh Unix socket.
        authkey: the shared secret every connection must prove it holds
            (HMAC-SHA256 both ways); None: this process's ``authkey``.
        serializer: ``"pickle"`` (the default) or ``"xmlrpclib"``.
        ctx: the context whose start method ``start()`` uses (default: the default
            context).
        shutdown_timeout: how long ``shutdown()`` waits for the server process to
            exit before it terminates, then kills, it.
        ssl_context: mproc's addition: TLS for this side's connections to the server,
            an ``ssl.SSLContext`` (``PROTOCOL_TLS_CLIENT``, trusting the server's
            certificate) or a function of no arguments that returns one.
        server_ssl_context: mproc's addition: TLS for the server's listener, an
            ``ssl.SSLContext`` (``PROTOCOL_TLS_SERVER`` with the certificate and key)
            or a function returning one. ``start()`` under spawn or forkserver needs
            the function form (an SSLContext cannot be pickled: TypeError).

    Proxies pass to other processes with the manager's address and authkey, and
    connect by themselves. A client with a key mismatch, no TLS, or an untrusted
    certificate is refused (``mproc.AuthenticationError`` or ``ssl.SSLError``).
    """

    _registry: dict[str, Any] = {}
    _Server = Server

    def __init__(self, address: Any = None, authkey: bytes | None = None,
                 serializer: str = "pickle", ctx: Any = None, *,
                 shutdown_timeout: float = 1.0, ssl_context: Any = None,
                 server_ssl_context: Any = None) -> None:
        if authkey is None:
            authkey = current_process().authkey
        self._address = address
        self._authkey = AuthenticationString(authkey)
        self._state = State()
        self._serializer = serializer
        # TLS: ssl_context for this side's connections to the server,
        # server_ssl_context for the server (an SSLContext, or a function making one).
        self._ssl_context = ssl_context
        self._server_ssl_context = server_ssl_context
        self._Listener, self._Client = listener_client(serializer, ssl_context)
        self._ctx = ctx or default_context.get_context()
        self._shutdown_timeout = shutdown_timeout

    def get_server(self) -> Server:
        """A Server for this manager, to run in this process with serve_forever()."""
        if self._state.value != State.INITIAL:
            self._raise_for_state()
        return self._Server(self._registry, self._address, self._authkey, self._serializer,
                            ssl_context=self._server_ssl_context)

    def connect(self) -> None:
        """Connect to a manager server that is already running at ``address``."""
        conn = self._Client(self._address, authkey=self._authkey)
        try:
            dispatch(conn, None, "dummy")
        finally:
            conn.close()
        self._state.value = State.STARTED

    def start(self, initializer: Any = None, initargs: Any = ()) -> None:
        """Spawn the server process (running ``initializer(*initargs)`` first)."""
        if self._state.value != State.INITIAL:
            self._raise_for_state()
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        _check_sendable_context(self._server_ssl_context, self._ctx)
        reader, writer = Pipe(duplex=False)
        self._process = self._ctx.Process(
            target=type(self)._run_server,
            args=(self._registry, self._address, self._authkey, self._serializer, writer,
                  initializer, tuple(initargs), os.getpid(), self._server_ssl_context))
        ident = ":".join(str(i) for i in self._process._identity)
        self._process.name = type(self).__name__ + "-" + ident
        self._process.start()
        writer.close()
        try:
            status, value = reader.recv()
        except EOFError:
            self._process.join(self._shutdown_timeout)
            raise ProcessError(
                f"the manager process {self._process.name} exited (exit code "
                f"{self._process.exitcode}) before it could serve; see its stderr") from None
        finally:
            reader.close()
        if status != "ok":
            self._process.join(self._shutdown_timeout)
            raise value
        self._address = value
        self._state.value = State.STARTED
        self.shutdown = Finalize(  # type: ignore[method-assign]
            self, type(self)._finalize_manager,
            args=(self._process, self._address, self._authkey, self._state, self._Client,
                  self._shutdown_timeout),
            exitpriority=0)

    @classmethod
    def _run_server(cls, registry: dict[str, Any], address: Any, authkey: bytes,
                    serializer: str, writer: Any, initializer: Any = None,
                    initargs: tuple[Any, ...] = (), parent_pid: int | None = None,
                    server_ssl_context: Any = None) -> None:
        run_server(registry, address, authkey, serializer, writer, initializer, initargs,
                   parent_pid, cls._Server, server_ssl_context)

    def _raise_for_state(self) -> None:
        if self._state.value == State.STARTED:
            raise ProcessError("Already started server")
        if self._state.value == State.SHUTDOWN:
            raise ProcessError("Manager has shut down")
        raise ProcessError(f"Unknown state {self._state.value!r}")

    def _create(self, typeid: str, /, *args: Any, **kwds: Any) -> tuple[Token, Any]:
        assert self._state.value == State.STARTED, "server not yet started"
        conn = self._Client(self._address, authkey=self._authkey)
        try:
            ident, exposed = dispatch(conn, None, "create", (typeid, *args), kwds)
        finally:
            conn.close()
        return Token(typeid, self._address, ident), exposed

    def join(self, timeout: float | None = None) -> None:
        """Wait for the manager process to exit."""
        if getattr(self, "_process", None) is not None:
            self._process.join(timeout)
            if not self._process.is_alive():
                self._process = None

    def _debug_info(self) -> str:
        return self._call_server("debug_info")  # type: ignore[no-any-return]

    def _number_of_objects(self) -> int:
        return self._call_server("number_of_objects")  # type: ignore[no-any-return]

    def _call_server(self, method: str) -> Any:
        conn = self._Client(self._address, authkey=self._authkey)
        try:
            return dispatch(conn, None, method)
        finally:
            conn.close()

    def __enter__(self: _M) -> _M:
        """Start the manager if needed; leaving the ``with`` block shuts it down."""
        if self._state.value == State.INITIAL:
            self.start()
        if self._state.value != State.STARTED:
            self._raise_for_state()
        return self

    def __exit__(self, *exc: object) -> None:
        """Shut the manager's process down."""
        self.shutdown()

    @staticmethod
    def _finalize_manager(process: Any, address: Any, authkey: bytes, state: State,
                          client: Any, shutdown_timeout: float) -> None:
        if process.is_alive():
            log.info("sending shutdown message to manager")
            try:
                conn = client(address, authkey=authkey)
                try:
                    dispatch(conn, None, "shutdown")
                finally:
                    conn.close()
            except Exception:
                pass
            process.join(timeout=shutdown_timeout)
            if process.is_alive():
                log.info("manager still alive")
                process.terminate()
                process.join(timeout=shutdown_timeout)
                if process.is_alive():
                    process.kill()
                    process.join()
        state.value = State.SHUTDOWN
        BaseProxy._address_to_local.pop(address, None)

    @property
    def address(self) -> Any:
        """The server's address (with the real port once started on port 0)."""
        return self._address

    def shutdown(self) -> None:  # replaced by a Finalize once started
        """Stop the manager's server process."""

    @classmethod
    def register(cls, typeid: str, callable: Any = None, proxytype: Any = None,  # noqa: A002
                 exposed: Any = None, method_to_typeid: Any = None,
                 create_method: bool = True) -> None:
        """Register a type (or callable) that this manager class can create and serve.

        Args:
            typeid: the name; unless ``create_method`` is False, the manager gets a
                method of that name which creates an object on the server and returns
                its proxy.
            callable: called on the server to make the object (None for a typeid
                that is only connected to, as a client's registration is).
            proxytype: the proxy class (default: an ``AutoProxy`` exposing the
                object's public methods).
            exposed: the method names the proxy may call (default: the proxy type's
                ``_exposed_`` or every public method).
            method_to_typeid: methods whose results are returned as proxies of the
                given typeids instead of copies.
            create_method: whether to add the creating method to the class.

        Call it on the class, before ``start()``/``connect()``; subclasses get their
        own registry.
        """
        if "_registry" not in cls.__dict__:
            cls._registry = cls._registry.copy()
        if proxytype is None:
            proxytype = AutoProxy
        exposed = exposed or getattr(proxytype, "_exposed_", None)
        method_to_typeid = method_to_typeid or getattr(proxytype, "_method_to_typeid_", None)
        if method_to_typeid:
            for key, value in method_to_typeid.items():
                assert isinstance(key, str), f"{key!r} is not a string"
                assert isinstance(value, str), f"{value!r} is not a string"
        cls._registry[typeid] = (callable, exposed, method_to_typeid, proxytype)
        if create_method:
            def create(self: BaseManager, /, *args: Any, **kwds: Any) -> Any:
                log.debug("requesting creation of a shared %r object", typeid)
                token, exp = self._create(typeid, *args, **kwds)
                proxy = proxytype(token, self._serializer, manager=self,
                                  authkey=self._authkey, exposed=exp)
                conn = self._Client(token.address, authkey=self._authkey)
                try:
                    dispatch(conn, None, "decref", (token.id,))
                finally:
                    conn.close()
                return proxy

            create.__name__ = create.__qualname__ = typeid
            create.__doc__ = (f"Create a {typeid!r} object in the manager's server process "
                              "and return a proxy for it (the arguments go to its callable).")
            setattr(cls, typeid, create)


def _check_sendable_context(context: Any, ctx: Any) -> None:
    import ssl

    if isinstance(context, ssl.SSLContext) and ctx.get_start_method() != "fork":
        raise TypeError(
            "server_ssl_context: an SSLContext object cannot be sent to a manager process "
            f"started with {ctx.get_start_method()!r}; pass a function that builds it "
            "(e.g. functools.partial(make_server_context, certfile, keyfile))")


def make_pool(*args: Any, **kwds: Any) -> Any:
    """Create a Pool inside the manager's process (imported only there)."""
    from ..pool import Pool

    return Pool(*args, **kwds)


class SyncManager(BaseManager):
    """A manager with the stdlib's shared types (``mproc.Manager()`` returns one, started).

    ``with mproc.Manager() as m: d = m.dict()`` gives a ``DictProxy`` that any process
    it is passed to can use; the objects live in the manager's process until it is
    shut down. Manager-made locks and queues work across machines too.
    """

    if TYPE_CHECKING:
        # The methods register() adds below, as checkers should see them.
        def Queue(self, maxsize: int = 0) -> queue.Queue[Any]: ...  # noqa: N802
        def JoinableQueue(self, maxsize: int = 0) -> queue.Queue[Any]: ...  # noqa: N802
        def Event(self) -> EventProxy: ...  # noqa: N802
        def Lock(self) -> AcquirerProxy: ...  # noqa: N802
        def RLock(self) -> AcquirerProxy: ...  # noqa: N802
        def Semaphore(self, value: int = 1) -> AcquirerProxy: ...  # noqa: N802
        def BoundedSemaphore(self, value: int = 1) -> AcquirerProxy: ...  # noqa: N802
        def Condition(self, lock: AcquirerProxy | None = None) -> ConditionProxy: ...  # noqa: N802
        def Barrier(self, parties: int, action: Callable[[], object] | None = None,  # noqa: N802
                    timeout: float | None = None) -> BarrierProxy: ...
        def Pool(self, processes: int | None = None,  # noqa: N802
                 initializer: Callable[..., object] | None = None,
                 initargs: Iterable[Any] = (),
                 maxtasksperchild: int | None = None) -> PoolProxy: ...
        @overload
        def list(self, sequence: Sequence[_T], /) -> ListProxy[_T]: ...
        @overload
        def list(self) -> ListProxy[Any]: ...
        def list(self, *args: Any) -> ListProxy[Any]: ...
        @overload
        def dict(self) -> DictProxy[Any, Any]: ...
        @overload
        def dict(self, **kwargs: _V) -> DictProxy[str, _V]: ...
        @overload
        def dict(self, map: Mapping[_K, _V], /) -> DictProxy[_K, _V]: ...  # noqa: A002
        @overload
        def dict(self, iterable: Iterable[tuple[_K, _V]], /) -> DictProxy[_K, _V]: ...
        def dict(self, *args: Any, **kwargs: Any) -> DictProxy[Any, Any]: ...
        def set(self, iterable: Iterable[Any] = (), /) -> SetProxy: ...
        def Value(self, typecode: Any, value: _T, lock: bool = True) -> ValueProxy[_T]: ...  # noqa: N802
        def Array(self, typecode: Any, sequence: Sequence[_T],  # noqa: N802
                  lock: bool = True) -> ArrayProxy[_T]: ...
        def Namespace(self) -> NamespaceProxy: ...  # noqa: N802


SyncManager.register("Queue", queue.Queue)
SyncManager.register("JoinableQueue", queue.Queue)
SyncManager.register("Event", threading.Event, EventProxy)
SyncManager.register("Lock", threading.Lock, AcquirerProxy)
SyncManager.register("RLock", threading.RLock, AcquirerProxy)
SyncManager.register("Semaphore", threading.Semaphore, AcquirerProxy)
SyncManager.register("BoundedSemaphore", threading.BoundedSemaphore, AcquirerProxy)
SyncManager.register("Condition", threading.Condition, ConditionProxy)
SyncManager.register("Barrier", threading.Barrier, BarrierProxy)
SyncManager.register("Pool", make_pool, PoolProxy)
SyncManager.register("list", list, ListProxy)
SyncManager.register("dict", dict, DictProxy)
SyncManager.register("set", set, SetProxy)
SyncManager.register("Value", Value, ValueProxy)
SyncManager.register("Array", Array, ArrayProxy)
SyncManager.register("Namespace", Namespace, NamespaceProxy)
SyncManager.register("Iterator", proxytype=IteratorProxy, create_method=False)
SyncManager.register("AsyncResult", create_method=False)
