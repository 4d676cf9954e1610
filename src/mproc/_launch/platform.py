"""OS-specific process plumbing, so the launchers stay portable in shape.

On Linux a *pidfd* (``os.pidfd_open``) is a file descriptor that becomes readable
when a process exits. It serves as a child's sentinel (nothing to inherit, so a
sibling can never keep it open) and as a child's view of its parent. Elsewhere a
pipe whose write end the watched process holds stands in for it.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import TypeVar

    _H = TypeVar("_H")

__all__ = ["open_pidfd", "dead_process_fd", "watch_parent", "children_of", "kill_tree",
           "stop_tree", "stop_orphans", "HAVE_PIDFD", "ORPHAN_GRACE_SECONDS"]

HAVE_PIDFD = hasattr(os, "pidfd_open")
# How long a non-daemonic child whose parent died without cleaning up may go on before
# it is stopped: time for code that watches ``parent_process()`` to react and report,
# short enough that the child and all its descendants are gone within 2 s.
ORPHAN_GRACE_SECONDS = 1.0


def open_pidfd(pid: int) -> int | None:
    """An fd that is readable once ``pid`` has exited; None if unsupported.

    A process that no longer exists yields an fd that is readable at once.
    """
    if not HAVE_PIDFD:
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return dead_process_fd()
    except OSError:
        return None


def dead_process_fd() -> int:
    """An fd that is already readable (EOF): the sentinel of a vanished process."""
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    return read_fd


def _wait_readable(fd: int) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll(None):
        pass


_children_files: bool | None = None  # does this kernel have /proc/PID/task/TID/children?


def children_of(pid: int) -> list[int]:
    """The pids of ``pid``'s children, from /proc (empty where /proc cannot tell)."""
    global _children_files
    if _children_files is None:
        me = os.getpid()
        _children_files = os.path.exists(f"/proc/{me}/task/{me}/children")
    if not _children_files:
        return _children_by_scan(pid)
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as file:
                found.extend(int(p) for p in file.read().split())
        except (OSError, ValueError):  # the thread (or process) is gone
            continue
    return found


def _children_by_scan(pid: int) -> list[int]:
    """Fallback when the kernel has no /proc/PID/task/TID/children."""
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def kill_tree(pid: int, freeze_root: bool = True) -> int:
    """SIGKILL ``pid``, its process group (if it leads one) and all its descendants
    (found under /proc, so ``subprocess`` children too); return how many other
    processes were killed.

    Everything is frozen with SIGSTOP first so that nothing can fork while the tree
    is walked. ``freeze_root=False`` for this process's own tree (a process that
    stops itself cannot go on to kill).
    """
    if freeze_root:
        _signal(pid, signal.SIGSTOP)
    seen: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child in children_of(parent):
            if child not in seen:
                seen.add(child)
                _signal(child, signal.SIGSTOP)
                frontier.append(child)
    for child in seen:  # before the group: it may hold the caller itself
        _signal(child, signal.SIGKILL)
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    _signal(pid, signal.SIGKILL)
    return len(seen)


def stop_tree() -> None:
    """SIGKILL this process's descendants, then this process (an orphan's end)."""
    kill_tree(os.getpid(), freeze_root=False)


def stop_orphans(children: Mapping[_H, bytes], exited: Callable[[_H], bool],
                 stop: Callable[[_H], None]) -> None:
    """The parent of ``children`` (handle -> kind) died uncleanly: ``stop`` each.

    ``D`` (daemonic) at once; ``N`` after ``ORPHAN_GRACE_SECONDS`` unless ``exited``
    says it finished first (a parent that exits normally has joined those already);
    ``O`` (``outlive_parent=True``) never. The fork server (handles: pids) and the
    guardian of fork children (handles: pidfds) both end this way.
    """
    for handle, kind in list(children.items()):
        if kind == b"D":
            stop(handle)
    waiting = [handle for handle, kind in children.items() if kind == b"N"]
    deadline = time.monotonic() + ORPHAN_GRACE_SECONDS
    while waiting and time.monotonic() < deadline:
        time.sleep(0.02)
        waiting = [handle for handle in waiting if not exited(handle)]
    for handle in waiting:
        stop(handle)


def watch_parent(parent_pid: int, parent_fd: int | None, grace: float = 0.0,
                 on_death: Callable[[], None] | None = None) -> None:
    """Run ``on_death`` (default: ``stop_tree``) ``grace`` seconds after ``parent_pid``
    exits.

    A spawned child runs this unless it opted out, so that none outlives a parent
    that was killed with SIGKILL and ran no cleanup (a parent that exits normally joins
    its non-daemonic children first, so they never see this); a fork child is watched
    by its parent's guardian (``guardian.py``) and a fork server's by the server, with
    no thread of their own. Daemonic children go at once; others after a short
    grace, in which they may finish by themselves.
    """
    action = on_death or stop_tree

    def run() -> None:
        if parent_fd is not None:
            _wait_readable(parent_fd)
        else:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
        if grace > 0:
            time.sleep(grace)
        action()

    # threading.Thread, not a bare _thread: its start() returns only once the thread
    # runs, so a child that exits at once (sys.exit in its target) never finalizes
    # the interpreter under a thread still being set up (3.10 crashed so, with
    # SIGSEGV, in CPython's test_sys_exit under spawn).
    threading.Thread(target=run, name="mproc-parent-watch", daemon=True).start()
