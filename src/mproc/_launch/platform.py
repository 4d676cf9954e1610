"""OS-specific process plumbing, so the launchers stay portable in shape.

On Linux a *pidfd* (``os.pidfd_open``) is a file descriptor that becomes readable
when a process exits. It serves as a child's sentinel (nothing to inherit, so a
sibling can never keep it open) and as a child's view of its parent. Elsewhere a
pipe whose write end the watched process holds stands in for it.
"""

from __future__ import annotations

import _thread
import os
import select  # here, not in the watch thread: a forked child would load it each time
import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["open_pidfd", "dead_process_fd", "watch_parent", "children_of", "kill_tree",
           "stop_tree",
           "HAVE_PIDFD", "ORPHAN_GRACE_SECONDS"]

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
        import time

        if parent_fd is not None:
            _wait_readable(parent_fd)
        else:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
        if grace > 0:
            time.sleep(grace)
        action()

    # A bare thread: every child starts one, and threading.Thread.start() waits for
    # the thread to run (a context switch) before it returns; it is also left out of
    # threading.enumerate(), which programs count.
    _start_beside_me(run)


def _start_beside_me(run: Callable[[], None]) -> None:
    """Start ``run`` on a bare thread that shares this thread's CPU.

    The thread needs the GIL once, to reach its blocking wait; on another CPU each
    hand-over of the GIL is a cross-CPU wake-up (measured: +0.4 ms on the life of a
    trivial forked child), on this one a plain context switch. A new thread inherits
    its creator's CPU mask, so the creator narrows its own for the moment of the start.
    """
    mask = None
    try:
        mask = os.sched_getaffinity(0)
        if len(mask) > 1:
            os.sched_setaffinity(0, {_current_cpu(mask)})
    except (AttributeError, OSError):
        mask = None
    try:
        _thread.start_new_thread(run, ())
    finally:
        if mask is not None and len(mask) > 1:
            try:
                os.sched_setaffinity(0, mask)
            except OSError:
                pass


def _current_cpu(mask: set[int]) -> int:
    """The CPU this thread runs on (from /proc), or the lowest it may run on."""
    try:
        with open("/proc/thread-self/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return min(mask)
