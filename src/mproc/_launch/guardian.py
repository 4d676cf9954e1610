"""The guardian: stops a process's fork children if the process dies uncleanly.

A child started with the fork method would otherwise need a watch thread of its own
(``platform.watch_parent``), and starting a thread in a fresh fork costs more than
the rest of a trivial child's life (measured: +0.2-0.4 ms on a 1.5 ms start and
join). Instead one small process per parent, forked on the first fork child, holds
a pidfd of every fork child the parent starts; it never needs the parent's help::

    parent                                   guardian (forked once, fds closed)
      fork child; pidfd = sentinel
      sendmsg(kind, [pidfd]) ------------->  keeps {pidfd: kind}, read every 100 ms
                                             with the exited children dropped
      exits or dies: its pidfd, or EOF --->  daemonic (D): kill the child's tree at
                                             once; others (N): after the grace,
                                             unless they exit first; then exit

A parent that exits normally has joined its non-daemonic children and terminated
the daemonic ones already, so the guardian finds nothing to do. A pidfd names
exactly one process, so a pid reused after the child was reaped is never hit. The
socket is a SOCK_SEQPACKET pair: one message per child, and EOF when the parent's end
closes. Children forked by the parent (by mproc or by ``os.fork``) close their
inherited copy of that end, so only the parent's death, not theirs, reads as EOF.
Where pidfds are missing the children watch their parent themselves (the thread).
"""

from __future__ import annotations

import array
import os
import select
import signal

from .platform import HAVE_PIDFD, kill_tree, open_pidfd, stop_orphans

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

__all__ = ["ensure_running", "guard"]

DAEMONIC, PLAIN = b"D", b"N"
TICK_MS = 100  # how often a guardian with children reads messages and drops the exited

_sock: socket.socket | None = None  # the parent's end
_SCM_RIGHTS = (-1, -1)  # (SOL_SOCKET, SCM_RIGHTS), set with the socket module's import
_owner = 0  # the pid that made it (a fork child must not use its parent's)
_pid = 0  # the guardian's pid (for diagnostics and tests)


def _forget_parents() -> None:
    """In a fork child: close the parent's end of its guardian's socket.

    Done here, when the child needs a guardian of its own, not in an at-fork hook:
    a hook runs in every fork, where each page it touches is copied. Until then the
    child only holds the fd (``guard`` refuses a socket another process made); the
    guardian watches the parent's pidfd, not the socket's EOF, so it does not care.
    """
    global _sock, _owner, _pid
    sock, _sock, _owner, _pid = _sock, None, 0, 0
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def ensure_running() -> bool:
    """Start this process's guardian if it is not running; False if it cannot be."""
    global _sock, _owner, _pid
    if _sock is not None:
        if _owner == os.getpid():
            return True
        _forget_parents()
    if not HAVE_PIDFD:
        return False
    import socket  # here, not at import: a spawned child that never forks skips it

    if not hasattr(socket, "SOCK_SEQPACKET"):
        return False
    global _SCM_RIGHTS
    _SCM_RIGHTS = (socket.SOL_SOCKET, socket.SCM_RIGHTS)
    try:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    except OSError:
        return False
    parent_pidfd = open_pidfd(os.getpid())
    if parent_pidfd is None:
        ours.close()
        theirs.close()
        return False
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        os.close(parent_pidfd)
        return False
    if pid == 0:  # the guardian
        code = 1
        try:
            fd = theirs.fileno()
            _isolate((fd, parent_pidfd))
            code = _serve(fd, parent_pidfd)
        finally:
            os._exit(code)
    theirs.close()
    os.close(parent_pidfd)
    _sock, _owner, _pid = ours, os.getpid(), pid
    # Nothing waits for it: it exits after the parent, and init reaps it then. If it
    # dies before, the next guard() finds out and starts another.
    return True


def guard(pidfd: int, daemonic: bool) -> bool:
    """Have the guardian stop the child ``pidfd`` names if this process dies
    uncleanly; False if the guardian is gone (a new one is started for next time)."""
    global _sock
    sock = _sock
    if sock is None or _owner != os.getpid():
        return False
    kind = DAEMONIC if daemonic else PLAIN
    try:
        sock.sendmsg([kind], [(*_SCM_RIGHTS, array.array("i", [pidfd]))])
        return True
    except OSError:
        _sock = None
        sock.close()
        return False


def _isolate(keep: tuple[int, ...]) -> None:
    """Hold nothing of the parent's: its pipes and sockets must see EOF as before."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the program
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd != devnull:
            os.dup2(devnull, fd)
    top = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(top, low + 1))


def _serve(fd: int, parent_pidfd: int) -> int:
    """Wake for the parent's death at once, but for the rest only on a slow tick.

    A wake-up per child started (or exited) would take CPU from the children at the
    moment they start; registrations wait in the socket and exited children are
    dropped in batches, every ``TICK`` while there are any, so the guardian costs
    the parent one ``sendmsg`` per child and nothing else.
    """
    import socket

    children: dict[int, bytes] = {}  # pidfd -> kind
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    space = socket.CMSG_SPACE(array.array("i").itemsize)
    idle = select.poll()  # nothing to watch: sleep until a message or the death
    idle.register(parent_pidfd, select.POLLIN)
    idle.register(fd, select.POLLIN)
    busy = select.poll()
    busy.register(parent_pidfd, select.POLLIN)
    while True:
        (busy if children else idle).poll(TICK_MS if children else None)
        eof = False
        while True:  # every registration sent so far
            try:
                kind, ancillary, _flags, _addr = sock.recvmsg(1, space)
            except BlockingIOError:
                break
            except OSError:
                kind, ancillary = b"", []
            if not kind:
                eof = True
                break
            for pidfd in _fds_in(ancillary):
                children[pidfd] = kind
        if eof or _exited(parent_pidfd):
            _shutdown(children)
            return 0
        for pidfd in [pidfd for pidfd in children if _exited(pidfd)]:
            del children[pidfd]
            os.close(pidfd)


def _fds_in(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if (level, kind) == _SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return list(fds)


def _exited(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _stop(pidfd: int) -> None:
    if _exited(pidfd):
        return
    try:
        pid = int(_pid_of(pidfd))
    except (OSError, ValueError):
        return
    kill_tree(pid)


def _pid_of(pidfd: int) -> str:
    with open(f"/proc/self/fdinfo/{pidfd}") as info:
        for line in info:
            if line.startswith("Pid:"):
                return line.split()[1]
    raise ValueError("not a pidfd")


def _shutdown(children: dict[int, bytes]) -> None:
    stop_orphans(children, _exited, _stop)
