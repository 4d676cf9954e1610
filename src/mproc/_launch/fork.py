"""The fork start method: the child is a copy of the parent, no pickling at all."""

from __future__ import annotations

import os

from .._process import keep_spare_stdin
from .._runtime import log
from .._runtime.state import STATE
from .base import DirectChildLaunch
from .guardian import ensure_running, guard
from .platform import open_pidfd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ForkLaunch"]


class ForkLaunch(DirectChildLaunch):
    """Starts a child with ``os.fork()`` (``mproc.popen_fork.Popen``)."""

    method = "fork"
    sentinel: int

    def duplicate_for_child(self, fd: int) -> int:
        """A forked child inherits every fd: ``fd`` itself."""
        # Only reached if something is pickled for the child while it is being
        # started; the fd itself is inherited.
        self._child_fds.append(fd)
        return len(self._child_fds) - 1

    def _launch(self, process_obj: Any) -> None:
        self._child_fds: list[int] = []
        parent_pid = os.getpid()
        fallback_r = fallback_w = -1
        if not hasattr(os, "pidfd_open"):
            fallback_r, fallback_w = os.pipe()
        # The guardian stops the child if we die uncleanly (no thread in the child).
        guarded = not process_obj.outlive_parent and fallback_r < 0 and ensure_running()
        keep_spare_stdin()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                if fallback_r >= 0:
                    os.close(fallback_r)
                STATE.inherited_fds = self._child_fds
                # Guarded, nothing here watches the parent: its sentinel is opened
                # only if parent_process() is asked for it.
                code = process_obj._bootstrap(
                    parent_pid=parent_pid,
                    parent_sentinel=None if guarded else open_pidfd(parent_pid),
                    forked=True, guarded=guarded, lazy_parent_sentinel=guarded)
            finally:
                os._exit(code)
        self.pid = pid
        if fallback_r >= 0:
            os.close(fallback_w)
            self.sentinel = fallback_r
        else:
            sentinel = open_pidfd(pid)
            assert sentinel is not None
            self.sentinel = sentinel
            daemonic = bool(process_obj.daemon)
            if guarded and not (guard(sentinel, daemonic)
                                or (ensure_running() and guard(sentinel, daemonic))):
                # The guardian died under us: the child has no watch of its own.
                log.warn("mproc: the guardian of fork children is gone; child pid %s "
                         "would outlive an unclean death of this process", pid)
        self._own_fds(self.sentinel)
