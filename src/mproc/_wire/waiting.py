"""wait(): block until any of several connections, sockets or sentinels is ready."""

from __future__ import annotations

import select
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["wait"]

_READY = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL


def _fd_of(obj: Any) -> int:
    return obj if isinstance(obj, int) else obj.fileno()


def wait(object_list: Iterable[Any], timeout: float | None = None) -> list[Any]:
    """Return the objects in ``object_list`` that are ready to read.

    Objects are Connections, sockets, anything with ``fileno()``, or plain fds such as
    ``Process.sentinel``. With ``timeout=None`` wait forever; an empty list means
    the timeout expired.
    """
    objects = list(object_list)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        buffered = [o for o in objects if getattr(o, "_has_buffered_data", None) and
                    o._handle is not None and o._has_buffered_data()]
        by_fd: dict[int, list[Any]] = {}
        poller = select.poll()
        for obj in objects:
            fd = _fd_of(obj)
            if fd not in by_fd:
                poller.register(fd, select.POLLIN | select.POLLPRI)
                by_fd[fd] = []
            by_fd[fd].append(obj)
        if buffered:
            ms: int | None = 0
        elif deadline is None:
            ms = None
        else:
            ms = max(0, int((deadline - time.monotonic()) * 1000 + 0.999))
        ready: list[Any] = list(buffered)
        for fd, events in poller.poll(ms):
            if events & _READY:
                ready.extend(o for o in by_fd[fd] if o not in ready)
        # A connection whose only data was a handshake leftover is not ready yet.
        ready = [o for o in ready if getattr(o, "_first_frame_check", None) is None
                 or o.poll(0)]
        if ready or (deadline is not None and time.monotonic() >= deadline):
            return [o for o in objects if o in ready]
