"""The fork server process: preloads once, then forks a child per request.

It serves one parent over a Unix socket (see ``forkserver.py`` for the picture).
It ignores SIGINT, as a Ctrl-C meant for the user's program must not kill it; it
exits when the parent goes away (EOF on the socket) after stopping the children it
started (``_shutdown``), so none outlives the parent.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import socket
import sys

from .._process import keep_spare_stdin
from .._runtime.state import STATE
from .child import _finish_minimal_site, run_from_pipe
from .forkserver import MAX_FDS_PER_REQUEST, NAMES_LEN, PID, STATUS, read_exact
from .learn import Learner, import_quietly
from .prep import apply

__all__ = ["forkserver_main"]


def _recv_request(sock: socket.socket) -> tuple[bytes, list[int]]:
    import array

    fds = array.array("i")
    msg, ancdata, _flags, _addr = sock.recvmsg(1, socket.CMSG_SPACE(MAX_FDS_PER_REQUEST * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


def _recv_parent_request(sock: socket.socket) -> tuple[bytes, list[int], list[str]]:
    """A request: tag (with the fds), then the modules its target comes from."""
    tag, fds = _recv_request(sock)
    if not tag:
        return tag, fds, []
    (size,) = NAMES_LEN.unpack(read_exact(sock.fileno(), NAMES_LEN.size))
    names = read_exact(sock.fileno(), size).decode("utf-8", "replace").split("\n") if size else []
    return tag, fds, names


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
    serve(sock, parent_pid, Learner(bool(prep.get("learn"))))


class _Spare:
    """A child forked ahead of time, waiting for its assignment on a socket, so
    the fork itself is off the path between a request and the child running."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock


def _become_child(closing: list[int], parent_pid: int, assignment: socket.socket | None,
                  data_r: int, child_fds: list[int], probe: str | None = None) -> None:
    """In a freshly forked child: drop the server's state, then run the process.

    A spare (``assignment`` given) first imports the module it was asked to probe,
    if any, and answers whether that was clean; then it waits for its request.
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
            # Work done while waiting is off the path from request to run: the
            # child's new sys.stdin is one such (see keep_spare_stdin).
            keep_spare_stdin()
            if probe is not None:
                verdict = b"+" if import_quietly(probe) else b"-"
                try:
                    assignment.sendall(verdict)
                except OSError:
                    pass  # the server is gone; the assignment read below says so
            tag, fds = _recv_request(assignment)
            assignment.close()
            if not tag or not fds:
                os._exit(0)
            data_r, child_fds = fds[0], fds[1:]
        STATE.inherited_fds = child_fds
        code = run_from_pipe(data_r, parent_pid, minimal_site=False, forked=True, guarded=True)
    finally:
        os._exit(code)


def serve(sock: socket.socket, parent_pid: int, learner: Learner) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *args: None)
    children: dict[int, tuple[int, bytes]] = {}  # pid -> (status fd, D|N|O: see _shutdown)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    spare: _Spare | None = None
    # Probing spares' sockets, by fd, until their verdict (or EOF) arrives; kept
    # open after the spare is assigned, since it answers before it runs.
    probes: dict[int, tuple[socket.socket, str]] = {}

    def server_fds() -> list[int]:
        return ([sock.fileno(), wake_r, wake_w, *probes]
                + [fd for fd, _ in children.values()])

    def fork_spare() -> _Spare:
        ours, theirs = socket.socketpair()
        ours.setblocking(True)
        theirs.setblocking(True)
        probe = learner.next_probe()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _become_child(server_fds(), parent_pid, theirs, -1, [], probe)
        theirs.close()
        if probe is not None:
            probes[ours.fileno()] = (ours, probe)
            poller.register(ours.fileno(), select.POLLIN)
        return _Spare(pid, ours)

    def take_verdict(fd: int) -> None:
        probe_sock, name = probes.pop(fd)
        poller.unregister(fd)
        try:
            answer = probe_sock.recv(1)
        except OSError:
            answer = b""
        if spare is None or probe_sock is not spare.sock:
            probe_sock.close()
        learner.result(name, answer == b"+")

    while True:
        if spare is None:
            spare = fork_spare()
        events = dict(poller.poll())
        if wake_r in events:
            os.read(wake_r, 4096)
            _reap(children)
        for fd in [fd for fd in events if fd in probes]:
            take_verdict(fd)
        if sock.fileno() not in events:
            continue
        try:
            tag, fds, names = _recv_parent_request(sock)
        except OSError:
            tag, fds, names = b"", [], []
        learner.note(names)
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
                _send_assignment(spare.sock, tag, [data_r, *child_fds])
                pid = spare.pid
            except OSError:
                pass  # the spare died; fork directly below
            if spare.sock.fileno() not in probes:
                spare.sock.close()  # else closed when its verdict arrives
            spare = None
        if pid < 0:
            pid = os.fork()
            if pid == 0:
                _become_child([*server_fds(), status_w], parent_pid, None, data_r, child_fds)
        os.close(data_r)
        for fd in child_fds:
            os.close(fd)
        os.write(status_w, PID.pack(pid))
        children[pid] = (status_w, tag[:1])
        _reap(children)


def _send_assignment(sock: socket.socket, tag: bytes, fds: list[int]) -> None:
    import array

    sock.sendmsg([tag], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def _reap(children: dict[int, tuple[int, bytes]]) -> None:
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
        status_fd, _kind = entry
        try:
            os.write(status_fd, STATUS.pack(os.waitstatus_to_exitcode(status)))
        except OSError:
            pass
        os.close(status_fd)


def _shutdown(children: dict[int, tuple[int, bytes]]) -> None:
    """The parent is gone: no child it started may outlive it (``_bootstrap`` leaves
    this to us for the fork server's children; kinds D, N, O as in
    ``platform.stop_orphans``)."""
    from .platform import kill_tree, stop_orphans

    def exited(pid: int) -> bool:
        _reap(children)
        return pid not in children

    def stop(pid: int) -> None:
        kill_tree(pid)

    stop_orphans({pid: kind for pid, (_fd, kind) in children.items()}, exited, stop)
    for fd, _kind in children.values():
        os.close(fd)
