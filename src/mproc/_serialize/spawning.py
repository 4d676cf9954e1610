"""Which child, if any, the current thread is pickling a process object for.

Some objects (semaphores, pipes' fds) may only be pickled while a child is being
started, because only then can the launcher hand the child what it needs; the
launcher sets itself here for the duration of that pickling.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from .stdlib_peer import peer_spawning

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Protocol

__all__ = ["spawning_launcher", "set_spawning_launcher", "spawning_for", "assert_spawning"]


if TYPE_CHECKING:

    class ChildHandoff(Protocol):
        """What a launcher offers to objects pickled for its child."""

        def duplicate_for_child(self, fd: int) -> int: ...


_local = threading.local()


def spawning_launcher() -> Any:
    """The launcher currently pickling a child's process object, or None."""
    return getattr(_local, "launcher", None)


def set_spawning_launcher(launcher: ChildHandoff | None) -> None:
    """Set (or clear, with None) the launcher of this thread by hand.

    The stdlib's ``context.set_spawning_popen``: launchers written outside mproc
    (loky's) bracket their pickling with it instead of using ``spawning_for``.
    """
    _local.launcher = launcher


@contextmanager
def spawning_for(launcher: ChildHandoff) -> Iterator[None]:
    previous = getattr(_local, "launcher", None)
    _local.launcher = launcher
    try:
        with peer_spawning(launcher):  # the stdlib's objects built on mproc, if loaded
            yield
    finally:
        _local.launcher = previous


def assert_spawning(obj: object) -> None:
    """Refuse to pickle ``obj`` unless a child process is being started."""
    if spawning_launcher() is None:
        raise RuntimeError(
            f"{type(obj).__name__} objects should only be shared between processes "
            "through inheritance"
        )
