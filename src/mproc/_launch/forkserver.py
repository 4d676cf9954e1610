"""The forkserver start method, parent side.

A server process (``server.py``) is spawned once, imports ``__main__`` and the
preload modules, and forks a child per request. The parent keeps one Unix socket
to it; a request carries file descriptors and the target's module names::

    parent                               server                    child
      pipe data(r,w), pipe status(r,w)
      sendmsg([data_r, status_w, fds],
              target modules)          -> hand to the spare ------> read data_r:
      read pid        <---------------- write pid to status_w       prep + process
      write prep + process to data_w    fork the next spare           _bootstrap()
      ...                               waitpid -> write exit code
      sentinel = status_r  <----------- to status_w, close it

The status pipe is the sentinel: it becomes readable exactly when the server has
reaped the child and written its exit code (or, if the server died, at EOF; the
exit code is then 255). The request also names the modules the target comes from,
which the server learns to import (``learn``).
"""

from __future__ import annotations

import os
import struct
import threading

from .._runtime.finalize import Finalize
from .._runtime.state import register_after_fork_on_use
from .._serialize.pickler import dumps
from .._serialize.spawning import spawning_for
from .base import Launch, wait_readable
from .learn import learning_enabled, target_modules
from .prep import collect
from .spawn import child_command, hand_over_helpers, posix_spawn_with_fds, write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

__all__ = ["ForkServer", "ForkserverLaunch", "forkserver", "PID", "STATUS", "read_exact"]

PID = struct.Struct("q")
STATUS = struct.Struct("i")
NAMES_LEN = struct.Struct("!H")  # then the request's module names, "\n"-joined
MAX_FDS_PER_REQUEST = 64


def read_exact(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class ForkServer:
    """Starts, restarts and talks to this process's fork server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._forkserver_pid: int | None = None
        self._preload_modules: list[str] = ["__main__"]

    def _forget(self) -> None:
        # A forked child must not hold the parent's server socket open.
        self._lock = threading.Lock()
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._forkserver_pid = None

    def set_forkserver_preload(self, modules_names: list[str]) -> None:
        if not all(isinstance(name, str) for name in modules_names):
            raise TypeError("module_names must be a list of strings")
        self._preload_modules = list(modules_names)

    def get_inherited_fds(self) -> list[int]:
        from .._runtime.state import STATE

        return list(STATE.inherited_fds)

    def _alive(self) -> bool:
        pid = self._forkserver_pid
        if pid is None or self._sock is None:
            return False
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return done == 0

    def ensure_running(self) -> None:
        """Start the server if it is not running (again, if it died)."""
        register_after_fork_on_use(self, ForkServer._forget)
        with self._lock:
            self._ensure_running_locked()

    def _ensure_running_locked(self) -> None:
        if self._alive():
            return
        import socket

        if self._sock is not None:
            self._sock.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(True)
        theirs.setblocking(True)
        data_r, data_w = os.pipe()
        try:
            prep = collect("ForkServer", "forkserver", _current_authkey())
            prep["preload"] = list(self._preload_modules)
            prep["learn"] = learning_enabled()
            argv = child_command("server", "forkserver_main", str(theirs.fileno()), str(data_r),
                                 str(os.getpid()))
            pid = posix_spawn_with_fds(argv, [theirs.fileno(), data_r])
        except BaseException:
            ours.close()
            os.close(data_w)
            raise
        finally:
            theirs.close()
            os.close(data_r)
        write_all(data_w, dumps(prep))
        self._sock, self._forkserver_pid = ours, pid
        Finalize(self, ForkServer._stop, args=(ours, pid), exitpriority=-50)

    @staticmethod
    def _stop(sock: socket.socket, pid: int) -> None:
        sock.close()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def connect_to_new_process(self, fds: list[int], daemon: bool = False,
                               modules: list[str] | None = None,
                               outlive: bool = False) -> tuple[int, int]:
        """Ask the server for a child; returns (status_r, data_w) and the child's pid
        is read from status_r first. ``modules``: what the child will import to
        unpickle its target (the server learns from them, see ``learn``)."""
        register_after_fork_on_use(self, ForkServer._forget)
        names = "\n".join(modules or []).encode("utf-8")
        if len(names) > 0xFFFF:
            names = b""
        kind = b"D" if daemon else b"O" if outlive else b"N"
        tag = kind + NAMES_LEN.pack(len(names)) + names
        if len(fds) + 2 > MAX_FDS_PER_REQUEST:
            raise ValueError(f"too many fds to pass to a forkserver child (max {MAX_FDS_PER_REQUEST - 2})")
        for attempt in (1, 2):
            data_r, data_w = os.pipe()
            status_r, status_w = os.pipe()
            try:
                with self._lock:
                    self._ensure_running_locked()
                    assert self._sock is not None
                    try:
                        sendfds_with(self._sock, tag, [data_r, status_w, *fds])
                    except OSError:
                        self._forkserver_pid = None  # dead: restart on the next attempt
                        raise
            except OSError:
                for fd in (data_r, data_w, status_r, status_w):
                    os.close(fd)
                if attempt == 2:
                    raise
                continue
            os.close(data_r)
            os.close(status_w)
            return status_r, data_w
        raise AssertionError("unreachable")


def sendfds_with(sock: socket.socket, tag: bytes, fds: list[int]) -> None:
    import array
    import socket

    sock.sendmsg([tag], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def _current_authkey() -> bytes:
    from .._runtime.state import STATE

    current = STATE.current
    return bytes(current.authkey) if current is not None else os.urandom(32)


forkserver = ForkServer()


class ForkserverLaunch(Launch):
    """Has the fork server fork the child (``mproc.popen_forkserver.Popen``)."""

    method = "forkserver"
    pid: int
    returncode: int | None

    def duplicate_for_child(self, fd: int) -> int:
        """Mark ``fd`` to be sent to the child; returns its number there."""
        self._child_fds.append(fd)
        return len(self._child_fds) - 1

    def _launch(self, process_obj: Any) -> None:
        self._child_fds: list[int] = []
        with spawning_for(self):
            body = dumps(process_obj)
        prep = collect(process_obj.name, self.method, process_obj.authkey)
        prep["helper_fds"] = hand_over_helpers(self)
        payload = dumps(prep) + body
        status_r, data_w = forkserver.connect_to_new_process(
            self._child_fds, bool(process_obj.daemon), target_modules(process_obj),
            bool(process_obj.outlive_parent))
        self.sentinel = status_r
        self._own_fds(status_r)
        # The payload goes first (the child reads it as soon as it is forked); then
        # wait for the pid, so that the child exists when start() returns and the
        # sentinel only becomes readable when the child has exited.
        write_all(data_w, payload)
        raw = read_exact(status_r, PID.size)
        if len(raw) != PID.size:
            raise OSError("the fork server died before it could start the child")
        (self.pid,) = PID.unpack(raw)

    def poll(self, flag: int = os.WNOHANG) -> int | None:
        """The exit code the server reported, or None while the child runs."""
        if self.returncode is None:
            if flag == os.WNOHANG and not wait_readable(self.sentinel, 0):
                return None
            raw = read_exact(self.sentinel, STATUS.size)
            self.returncode = STATUS.unpack(raw)[0] if len(raw) == STATUS.size else 255
        return self.returncode
