"""The fork server process: preloads once, then forks a child per request.

It serves one parent over a Unix socket (see ``forkserver.py`` for the picture).
It ignores SIGINT, as a Ctrl-C meant for the user's program must not kill it; it
exits when the parent goes away (EOF on the socket) after killing the daemonic
children it started, so none outlives the parent.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import socket
import sys

from .._runtime.state import STATE
from .child import _finish_minimal_site, run_from_pipe
from .forkserver import MAX_FDS_PER_REQUEST, PID, STATUS
from .prep import apply

__all__ = ["forkserver_main"]

_MAX_FD = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1 << 20


def _recv_request(sock: socket.socket) -> tuple[bytes, list[int]]:
    import array

    fds = array.array("i")
    msg, ancdata, _flags, _addr = sock.recvmsg(1, socket.CMSG_SPACE(MAX_FDS_PER_REQUEST * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


# What nearly every child unpickles: import once here, not in every child.
_ALWAYS_PRELOADED = ["mproc.context", "mproc.connection", "mproc.synchronize", "mproc.queues"]


def _preload(modules: list[str]) -> None:
    for name in [*_ALWAYS_PRELOADED, *modules]:
        if name == "__main__":
            continue  # apply() already imported the main module
        try:
            __import__(name)
        except ImportError:
            pass


def forkserver_main() -> None:
    """Entry point (argv: socket fd, prep fd, parent pid, site mode)."""
    sock_fd, prep_fd, parent_pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    minimal_site = sys.argv[4] == "minimal"
    with os.fdopen(prep_fd, "rb") as stream:
        prep = pickle.load(stream)
    if minimal_site:
        sys.path[:] = prep["sys_path"]
        _finish_minimal_site()
    if STATE.current is not None:
        STATE.current.authkey = prep["authkey"]
    try:
        apply(prep)
    except BaseException:
        # A main module that cannot be imported here (e.g. it starts processes at
        # import time) is re-imported by each child instead, which reports it.
        pass
    _preload(prep.get("preload", []))
    sock = socket.socket(fileno=sock_fd)
    sock.setblocking(True)
    serve(sock, parent_pid)


class _Spare:
    """A child forked ahead of time, waiting for its assignment on a socket, so
    the fork itself is off the path between a request and the child running."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock


def _become_child(closing: list[int], parent_pid: int, assignment: socket.socket | None,
                  data_r: int, status_w: int, child_fds: list[int]) -> None:
    """In a freshly forked child: drop the server's state, then run the process.

    The child reports its own exit code on the status pipe once its file
    descriptors are closed, so the parent's ``join`` does not wait for the kernel
    to tear down its memory and for the server to reap it (the server writes the
    code again after reaping, which is what the parent reads if the child was
    killed first; the parent reads only the first code).
    """
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in closing:
            try:
                os.close(fd)
            except OSError:
                pass
        if assignment is not None:
            tag, fds = _recv_request(assignment)
            assignment.close()
            if not tag or len(fds) < 2:
                os._exit(0)
            data_r, status_w, child_fds = fds[0], fds[1], fds[2:]
        STATE.inherited_fds = child_fds
        code = run_from_pipe(data_r, parent_pid, minimal_site=False)
    finally:
        _report_exit(status_w, code)
        os._exit(code)


def _report_exit(status_w: int, code: int) -> None:
    """Close every fd (as exiting will) but ``status_w``, then write the exit code."""
    if status_w < 0:
        return
    try:
        os.closerange(0, status_w)
        os.closerange(status_w + 1, _MAX_FD)
        os.write(status_w, STATUS.pack(code & 0xFF))
    except BaseException:
        pass


def serve(sock: socket.socket, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *args: None)
    children: dict[int, tuple[int, bool]] = {}  # pid -> (status fd, daemonic)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    spare: _Spare | None = None

    def server_fds() -> list[int]:
        return [sock.fileno(), wake_r, wake_w] + [fd for fd, _ in children.values()]

    def fork_spare() -> _Spare | None:
        ours, theirs = socket.socketpair()
        ours.setblocking(True)
        theirs.setblocking(True)
        pid = os.fork()
        if pid == 0:
            ours.close()
            _become_child(server_fds(), parent_pid, theirs, -1, -1, [])
        theirs.close()
        return _Spare(pid, ours)

    while True:
        if spare is None:
            spare = fork_spare()
        events = dict(poller.poll())
        if wake_r in events:
            os.read(wake_r, 4096)
            _reap(children)
        if sock.fileno() not in events:
            continue
        try:
            tag, fds = _recv_request(sock)
        except OSError:
            tag, fds = b"", []
        if not tag:
            if spare is not None:
                spare.sock.close()
            _shutdown(children)
            return
        if len(fds) < 2:
            for fd in fds:
                os.close(fd)
            continue
        data_r, status_w, child_fds = fds[0], fds[1], fds[2:]
        pid = -1
        if spare is not None:
            try:
                _send_assignment(spare.sock, tag, [data_r, status_w, *child_fds])
                pid = spare.pid
            except OSError:
                pass  # the spare died; fork directly below
            spare.sock.close()
            spare = None
        if pid < 0:
            pid = os.fork()
            if pid == 0:
                _become_child(server_fds(), parent_pid, None, data_r, status_w, child_fds)
        os.close(data_r)
        for fd in child_fds:
            os.close(fd)
        os.write(status_w, PID.pack(pid))
        children[pid] = (status_w, tag == b"D")
        _reap(children)


def _send_assignment(sock: socket.socket, tag: bytes, fds: list[int]) -> None:
    import array

    sock.sendmsg([tag], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def _reap(children: dict[int, tuple[int, bool]]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        entry = children.pop(pid, None)
        if entry is None:
            continue  # a spare that died, or was told to exit
        status_fd, _daemonic = entry
        try:
            os.write(status_fd, STATUS.pack(os.waitstatus_to_exitcode(status)))
        except OSError:
            pass
        os.close(status_fd)


def _shutdown(children: dict[int, tuple[int, bool]]) -> None:
    for pid, (_fd, daemonic) in list(children.items()):
        if daemonic:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for fd, _daemonic in children.values():
        os.close(fd)
