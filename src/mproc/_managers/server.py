"""The manager's server: owns the shared objects and runs calls on them.

::

    client process                     server process
      Client(address, authkey) ----->  accept loop (one thread): listener.accept()
                                         runs every pending handshake at once
                                         (deadline, bounded), hands out the
                                         authenticated connections
                                       -> connection thread (one per authenticated
      dispatch((ident, method, ...))      client): request loop
                                   <-----   ident None  -> a server method (create, ...)
                                            ident       -> getattr(obj, method)(...)
      (kind, result)

A connection that sends garbage, an oversized frame or nothing at all is dropped;
nothing a client sends can stop the server for the others, and a client that never
authenticates costs no thread.
"""

from __future__ import annotations

import sys
import threading
from pickle import loads as _loads

from .._process import AuthenticationString
from .._runtime import log
from .channel import Channel, fast_lane
from .protocol import Token, format_remote_traceback, listener_client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Server", "current_server", "public_methods", "DEFAULT_MAX_MESSAGE_SIZE"]

DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024
# Handshakes in progress at once (as many as the kernel may queue): past it the
# oldest pending one is dropped.
MAX_PENDING_HANDSHAKES = 128
# A client usually sends its next request right after a reply: poll this long first.
SERVER_SPIN_SECONDS = 50e-6
_current: Server | None = None


def current_server() -> Server | None:
    """The Server running in this process, if any (proxies unpickled here use it)."""
    return _current


def public_methods(obj: Any) -> list[str]:
    """Names of the callable attributes of ``obj`` that do not start with '_'."""
    return [name for name in dir(obj)
            if not name.startswith("_") and callable(getattr(obj, name, None))]


class Server:
    """Serves the objects of one manager to authenticated clients."""

    public: tuple[str, ...] = ("shutdown", "create", "accept_connection", "get_methods", "debug_info",
              "number_of_objects", "dummy", "incref", "decref")

    def __init__(self, registry: dict[str, Any], address: Any, authkey: bytes,
                 serializer: str, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, *,
                 ssl_context: Any = None) -> None:
        if not isinstance(authkey, bytes):
            raise TypeError(f"Authkey {authkey!r} is type {type(authkey)!s}, not bytes")
        self.registry = registry
        self.authkey: AuthenticationString = AuthenticationString(authkey)
        listener_cls, _client = listener_client(serializer, server_ssl_context=ssl_context)
        self.listener: Any = listener_cls(address=address, backlog=MAX_PENDING_HANDSHAKES,
                                          authkey=self.authkey,
                                          max_pending=MAX_PENDING_HANDSHAKES)
        self.address: Any = self.listener.address
        self.max_message_size = max_message_size
        self.id_to_obj: dict[str, tuple[Any, frozenset[str], dict[str, str] | None]] = {
            "0": (None, frozenset(), None)}
        self.id_to_refcount: dict[str, int] = {}
        self.id_to_local_proxy_obj: dict[str, Any] = {}
        self.mutex: threading.Lock = threading.Lock()
        self.stop_event: threading.Event = threading.Event()

    # -- running ---------------------------------------------------------------

    def serve_forever(self) -> None:
        """Serve until ``shutdown`` is requested (then the process exits, as in the stdlib)."""
        global _current
        _current = self
        accepter = threading.Thread(target=self.accepter, name="mproc-manager-accept", daemon=True)
        accepter.start()
        try:
            while not self.stop_event.is_set():
                self.stop_event.wait(1)
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.listener.close()
            if sys.stdout != sys.__stdout__:
                sys.stdout = sys.__stdout__
                sys.stderr = sys.__stderr__
            sys.exit(0)

    def accepter(self) -> None:
        """Hand each authenticated connection to a thread of its own. Handshakes run
        here, all at once, in ``listener.accept_raw()``: a client that fails one is
        dropped there and never reaches this loop."""
        while not self.stop_event.is_set():
            try:
                raw = self.listener.accept_raw()
            except OSError as exc:
                if self.stop_event.is_set() or self.listener._socket is None:
                    return
                log.info("manager accept failed: %s", exc)
                self.stop_event.wait(0.1)
                continue
            thread = threading.Thread(target=self.handle_connection, args=(raw,), daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:  # out of threads: refuse this one, not all
                log.info("manager refused a connection: %s", exc)
                raw.close()

    def handle_connection(self, raw: Any) -> None:
        """Serve one authenticated connection (the listener's own Connection)."""
        raw.max_message_size = self.max_message_size
        conn = self.listener.wrap_connection(raw)
        if conn is raw:
            conn = fast_lane(raw, SERVER_SPIN_SECONDS)
        else:
            raw.spin_seconds = SERVER_SPIN_SECONDS
        try:
            self.serve_client(conn)
        finally:
            raw.close()

    def serve_client(self, conn: Any) -> None:
        """Answer requests on one connection until the client goes away."""
        if type(conn) is Channel:
            self._serve_channel(conn)
            return
        while not self.stop_event.is_set():
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            except Exception:
                # The frame arrived whole but would not unpickle: say so, go on.
                if not self._reply(conn, ("#TRACEBACK", format_remote_traceback())):
                    return
                continue
            try:
                ident, method, args, kwds = request
                args, kwds = tuple(args), dict(kwds or {})
            except (TypeError, ValueError):
                if not self._reply(conn, ("#TRACEBACK", f"malformed request {request!r}\n")):
                    return
                continue
            if not self._reply(conn, self._execute(conn, ident, method, args, kwds)):
                return

    def _serve_channel(self, chan: Channel) -> None:
        """``serve_client`` over a Channel, with the usual call inline: an exposed
        method of a known object, positional arguments, a result sent as a copy.
        Everything else (server methods, kwargs, unknown objects or methods,
        results returned as proxies) goes through ``_execute`` as before."""
        id_to_obj = self.id_to_obj
        stopped = self.stop_event.is_set
        frame = chan.frame
        while not stopped():
            try:
                request = _loads(frame())
            except (EOFError, OSError):
                return
            except Exception:
                if not self._reply(chan, ("#TRACEBACK", format_remote_traceback())):
                    return
                continue
            try:
                ident, method, args, kwds = request
            except (TypeError, ValueError):
                if not self._reply(chan, ("#TRACEBACK", f"malformed request {request!r}\n")):
                    return
                continue
            if type(ident) is str and type(method) is str and type(args) is tuple and not kwds:
                entry = id_to_obj.get(ident)
                if entry is not None and method in entry[1] and not (
                        entry[2] and method in entry[2]):
                    try:
                        function = getattr(entry[0], method)
                    except Exception:
                        msg: tuple[str, Any] = ("#TRACEBACK", format_remote_traceback())
                    else:
                        try:
                            result = function(*args)
                        except Exception as exc:
                            msg = ("#ERROR", exc)
                        else:
                            try:
                                chan.reply(result)
                                continue
                            except (OSError, EOFError):
                                return
                            except Exception:
                                msg = ("#UNSERIALIZABLE", format_remote_traceback())
                    if not self._reply(chan, msg):
                        return
                    continue
            try:
                args, kwds = tuple(args), dict(kwds or {})
            except (TypeError, ValueError):
                if not self._reply(chan, ("#TRACEBACK", f"malformed request {request!r}\n")):
                    return
                continue
            if not self._reply(chan, self._execute(chan, ident, method, args, kwds)):
                return

    def _reply(self, conn: Any, msg: tuple[str, Any]) -> bool:
        try:
            conn.send(msg)
            return True
        except (OSError, EOFError):
            return False
        except Exception:
            try:
                conn.send(("#UNSERIALIZABLE", format_remote_traceback()))
                return True
            except Exception:
                return False

    def _execute(self, conn: Any, ident: Any, method: str, args: tuple[Any, ...],
                 kwds: dict[str, Any]) -> tuple[str, Any]:
        if ident is None:
            if method not in self.public:
                return ("#TRACEBACK", f"{method!r} is not a server method\n")
            try:
                return ("#RETURN", getattr(self, method)(conn, *args, **kwds))
            except Exception:
                return ("#TRACEBACK", format_remote_traceback())
        try:
            obj, exposed, gettypeid = self._lookup(ident)
            if method not in exposed:
                fallback = self._fallback(obj, method)
                if fallback is not None:
                    return fallback
                raise AttributeError(
                    f"method {method!r} of {type(obj)!r} object is not in exposed={exposed!r}")
            function = getattr(obj, method)
        except Exception:
            return ("#TRACEBACK", format_remote_traceback())
        try:
            result = function(*args, **kwds)
        except Exception as exc:
            return ("#ERROR", exc)
        typeid = gettypeid.get(method) if gettypeid else None
        if typeid:
            try:
                rident, rexposed = self.create(conn, typeid, result)
            except Exception:
                return ("#TRACEBACK", format_remote_traceback())
            return ("#PROXY", (rexposed, Token(typeid, self.address, rident)))
        return ("#RETURN", result)

    def _fallback(self, obj: Any, method: str) -> tuple[str, Any] | None:
        if method == "#GETVALUE":
            return ("#RETURN", obj)
        if method == "__str__":
            return ("#RETURN", str(obj))
        if method == "__repr__":
            return ("#RETURN", repr(obj))
        return None

    def _lookup(self, ident: str) -> tuple[Any, frozenset[str], dict[str, str] | None]:
        with self.mutex:
            try:
                return self.id_to_obj[ident]
            except KeyError:
                if ident in self.id_to_local_proxy_obj:
                    return self.id_to_local_proxy_obj[ident]  # type: ignore[no-any-return]
                raise KeyError(f"no object with id {ident!r} in this manager") from None

    # -- server methods (called by clients with ident None) -------------------

    def dummy(self, conn: Any) -> None:
        pass

    def accept_connection(self, conn: Any, name: str) -> None:
        threading.current_thread().name = name

    def debug_info(self, conn: Any) -> str:
        with self.mutex:
            return "\n".join(
                f"  {ident}:       refcount={self.id_to_refcount[ident]}\n    "
                f"{str(self.id_to_obj[ident][0])[:75]}"
                for ident in sorted(self.id_to_refcount))

    def number_of_objects(self, conn: Any) -> int:
        return len(self.id_to_refcount)

    def shutdown(self, conn: Any) -> None:
        log.debug("manager received shutdown message")
        self.stop_event.set()

    def create(self, conn: Any, typeid: str, /, *args: Any, **kwds: Any) -> tuple[str, tuple[str, ...]]:
        """Make a new shared object of ``typeid``; return (ident, exposed)."""
        try:
            callable_, exposed, method_to_typeid, _proxytype = self.registry[typeid]
        except KeyError:
            raise KeyError(f"{typeid!r} is not a type registered with this manager") from None
        if callable_ is None:
            if kwds or len(args) != 1:
                raise ValueError("Without callable, must have one non-keyword argument")
            obj = args[0]
        else:
            obj = callable_(*args, **kwds)
        names = list(exposed) if exposed is not None else public_methods(obj)
        if method_to_typeid is not None:
            if not isinstance(method_to_typeid, dict):
                raise TypeError(f"Method_to_typeid {method_to_typeid!r} is not a dict")
            names += list(method_to_typeid)
        ident = f"{id(obj):x}"
        with self.mutex:
            self.id_to_obj[ident] = (obj, frozenset(names), method_to_typeid)
            self.id_to_refcount.setdefault(ident, 0)
        self.incref(conn, ident)
        return ident, tuple(names)

    def get_methods(self, conn: Any, token: Token) -> tuple[str, ...]:
        return tuple(self._lookup(token.id)[1])

    def incref(self, conn: Any, ident: str) -> None:
        with self.mutex:
            if ident in self.id_to_refcount:
                self.id_to_refcount[ident] += 1
            elif ident in self.id_to_local_proxy_obj:
                self.id_to_refcount[ident] = 1
                self.id_to_obj[ident] = self.id_to_local_proxy_obj[ident]
            else:
                raise KeyError(f"no object with id {ident!r} in this manager")

    def decref(self, conn: Any, ident: str) -> None:
        with self.mutex:
            if ident not in self.id_to_refcount and ident in self.id_to_local_proxy_obj:
                return
            if self.id_to_refcount.get(ident, 0) <= 0:
                raise AssertionError(
                    f"Id {ident!s} ({self.id_to_obj.get(ident)!r}) has refcount "
                    f"{self.id_to_refcount.get(ident, 0)}, not 1+")
            self.id_to_refcount[ident] -= 1
            if self.id_to_refcount[ident] == 0:
                del self.id_to_refcount[ident]
                # Drop the object outside the lock: its finalizer may call back in.
                # (An object also held by a proxy living in this server, e.g. one
                # stored in a managed list, stays in id_to_local_proxy_obj.)
                dropped = self.id_to_obj.pop(ident, None)
            else:
                dropped = None
        del dropped


def run_server(registry: dict[str, Any], address: Any, authkey: bytes, serializer: str,
               writer: Any, initializer: Any, initargs: tuple[Any, ...],
               parent_pid: int | None, server_class: Any = None,
               ssl_context: Any = None) -> None:
    """Body of the manager process: start serving and report the address (or why not)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the program, not us
    if initializer is not None:
        initializer(*initargs)
    try:
        server = (server_class or Server)(registry, address, authkey, serializer,
                                          ssl_context=ssl_context)
    except Exception as exc:
        writer.send(("error", exc))
        writer.close()
        return
    writer.send(("ok", server.address))
    writer.close()
    if parent_pid is not None:
        from .._launch.platform import open_pidfd, watch_parent

        # No orphans: a manager whose parent died (even by SIGKILL) shuts down.
        watch_parent(parent_pid, open_pidfd(parent_pid), on_death=server.stop_event.set)
    log.info("manager serving at %r", server.address)
    server.serve_forever()

