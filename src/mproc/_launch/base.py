"""The interface every start method implements, and the shared parts.

A *launch* is one started child: ``pid``, ``sentinel`` (an fd readable once the
child has exited), ``poll``, ``wait``, ``terminate``, ``kill``, ``interrupt``,
``close`` and ``returncode``. Process objects talk only to this interface, so
start methods are strategies, registered by name in ``_launch.METHODS``::

    Process.start()
       |  context picks the strategy by name
       v
    ForkLaunch | SpawnLaunch | ForkserverLaunch   (this package)
       |  child side: prepare (spawn/forkserver), then
       v
    process_obj._bootstrap()  ->  run()  ->  exit code
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = ["Launch", "DirectChildLaunch", "wait_readable", "flush_std_streams"]


def wait_readable(fd: int, timeout: float | None) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
    return bool(poller.poll(ms))


def flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


class Launch:
    """A started child process, as its parent sees it."""

    method: ClassVar[str] = ""
    #: duplicate_for_child() returns an index into the child's inherited fds, not
    #: an fd number (launchers outside mproc, loky's, return the number).
    fds_by_index: ClassVar[bool] = True
    pid: int
    sentinel: int
    returncode: int | None = None
    _owned_fds: tuple[int, ...] = ()

    def __init__(self, process_obj: Any) -> None:
        flush_std_streams()
        self.returncode = None
        self._launch(process_obj)

    def _launch(self, process_obj: Any) -> None:
        raise NotImplementedError

    def duplicate_for_child(self, fd: int) -> int:
        """Make ``fd`` available to the child; return its index for InheritedFd."""
        raise NotImplementedError

    def poll(self, flag: int = os.WNOHANG) -> int | None:
        """The exit code, or None while the child runs (``flag=0``: wait for it)."""
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, waiting up to ``timeout`` seconds (None: for ever)."""
        if self.returncode is not None:
            return self.returncode
        if timeout is None or wait_readable(self.sentinel, timeout):
            return self.poll(0)  # the sentinel fired (or we may block): reap
        return None

    def _signal(self, sig: int) -> None:
        # Reap first: a child that has exited and been reaped may have its pid
        # reused, and must never be signalled.
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # exited since the poll
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        """Send SIGTERM to the child."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL to the child."""
        self._signal(signal.SIGKILL)

    def interrupt(self) -> None:
        """Send SIGINT to the child."""
        self._signal(signal.SIGINT)

    def _own_fds(self, *fds: int) -> None:
        """Close these fds when this launch is closed or collected.

        (A ``__del__``, not a registered finalizer: this runs in the parent right
        after a fork, where every object it makes or touches costs a page copy.)
        """
        self._owned_fds = fds

    def close(self) -> None:
        """Release the sentinel and other fds held for the child."""
        fds, self._owned_fds = self._owned_fds, ()
        _close_fds(*fds)

    def __del__(self) -> None:
        if self._owned_fds:
            self.close()


def _close_fds(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class DirectChildLaunch(Launch):
    """A child of this very process (fork, spawn): reaped with waitpid."""

    returncode: int | None

    def poll(self, flag: int = os.WNOHANG) -> int | None:
        """The exit code, or None while the child runs (``flag=0``: wait for it)."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flag)
            except ChildProcessError:
                return None
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode
