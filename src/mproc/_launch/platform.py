"""OS-specific process plumbing, so the launchers stay portable in shape.

On Linux a *pidfd* (``os.pidfd_open``) is a file descriptor that becomes readable
when a process exits. It serves as a child's sentinel (nothing to inherit, so a
sibling can never keep it open) and as a child's view of its parent. Elsewhere a
pipe whose write end the watched process holds stands in for it.
"""

from __future__ import annotations

import os
import signal
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["open_pidfd", "dead_process_fd", "watch_parent", "HAVE_PIDFD"]

HAVE_PIDFD = hasattr(os, "pidfd_open")


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
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll(None):
        pass


def watch_parent(parent_pid: int, parent_fd: int | None,
                 on_death: Callable[[], None] | None = None) -> None:
    """Run ``on_death`` (default: kill this process) when ``parent_pid`` exits.

    Used by daemonic children so that none outlives its parent, even one that was
    killed with SIGKILL and ran no cleanup at all.
    """
    def default() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    action = on_death or default

    def run() -> None:
        if parent_fd is not None:
            _wait_readable(parent_fd)
        else:
            import time

            while os.getppid() == parent_pid:
                time.sleep(0.5)
        action()

    threading.Thread(target=run, name="mproc-parent-watch", daemon=True).start()
