"""The one record of who this process is: current and parent process, children,
the process-name counter, the bootstrapping flag and the after-fork hooks.

Everything here is reset in every child, whichever way it was made: mproc's own
launchers call ``become_child``; a bare ``os.fork()`` runs ``_after_fork_in_child``
through ``os.register_at_fork``. Objects that other modules export (``children``,
``dangling``, ``afterfork_registry``) are never rebound, only cleared, so aliases
held elsewhere stay true.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref

from . import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "STATE",
    "ProcessState",
    "afterfork_registry",
    "register_after_fork",
    "register_after_fork_on_use",
    "run_after_forkers",
    "ForkAwareThreadLock",
    "ForkAwareLocal",
]


class ProcessState:
    """Mutable per-process facts; one instance, ``STATE``."""

    def __init__(self) -> None:
        self.current: Any = None  # the BaseProcess describing this process
        self.parent: Any = None  # a ParentProcess, or None in the main process
        self.children: set[Any] = set()  # started, not yet reaped children
        self.dangling: weakref.WeakSet[Any] = weakref.WeakSet()  # every started process
        self.counter = itertools.count(1)  # for default names Process-N
        self._counter_pid = os.getpid()  # a forked child restarts the count
        self.bootstrapping = False  # True while a child imports main / unpickles its target
        self.start_method_in_child: str | None = None  # how this process was started
        self.inherited_fds: list[int] = []  # fds a launcher handed to this child
        # Long-lived helpers' fds (e.g. the resource tracker's pipe), by name: every
        # launcher hands them to its children, which find them here under the same name.
        self.helper_fds: dict[str, int] = {}
        # The context behind mproc.* (set by mproc._context), for lower layers such as
        # the pool that must start processes "the default way" without importing it.
        self.default_context: Any = None

    def next_child_index(self) -> int:
        if self._counter_pid != os.getpid():  # checked here, not in every fork
            self._counter_pid = os.getpid()
            self.counter = itertools.count(1)
        return next(self.counter)

    def become_child(self, current: Any, parent: Any) -> None:
        """Called first thing in a child started by mproc."""
        self.current = current
        self.parent = parent
        self.children.clear()
        self.counter = itertools.count(1)
        self._counter_pid = os.getpid()


STATE = ProcessState()

# (serial, id(obj), func) -> weak reference to obj, in registration order; an entry
# leaves when its object dies. A plain dict, not a WeakValueDictionary: it is walked
# in every forked child, where each page of code and data first touched costs a
# copy-on-write fault, and a plain dict's walk touches the fewest.
afterfork_registry: dict[tuple[int, int, Any], weakref.ref[Any]] = {}
_afterfork_serials = itertools.count()


def register_after_fork(obj: Any, func: Callable[[Any], object]) -> None:
    """Call ``func(obj)`` in every child forked from this process while obj lives."""
    key = (next(_afterfork_serials), id(obj), func)
    afterfork_registry[key] = weakref.ref(obj, lambda _ref: afterfork_registry.pop(key, None))


def register_after_fork_on_use(obj: Any, func: Callable[[Any], object]) -> None:
    """``register_after_fork(obj, func)`` the first time it is called for ``obj``.

    For objects whose reset matters only once they have been used (a lock taken, a
    socket opened): called before the first use, it keeps every fork of a program
    that never uses them from running their hooks.
    """
    if not getattr(obj, "_after_fork_registered", False):
        obj._after_fork_registered = True
        register_after_fork(obj, func)


def run_after_forkers() -> None:
    """Run the after-fork hooks in registration order; a failing hook is logged."""
    if not afterfork_registry:
        return
    for (_serial, _ident, func), ref in list(afterfork_registry.items()):
        obj = ref()
        if obj is None:
            continue
        try:
            func(obj)
        except Exception as exc:
            log.info("after forker raised exception %s", exc)


def _after_fork_in_child() -> None:
    # The parent's children are not ours (the next names restart at 1, see
    # next_child_index). Kept to reads where it can: each page this writes to is
    # copied, in every fork.
    if STATE.children:
        STATE.children.clear()
    if afterfork_registry:
        run_after_forkers()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class ForkAwareThreadLock:
    """A ``threading.Lock`` that is fresh (unlocked) in every forked child."""

    acquire: Callable[..., bool]
    release: Callable[[], None]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.acquire = self._lock.acquire
        self.release = self._lock.release
        register_after_fork(self, ForkAwareThreadLock._at_fork_reinit)

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *args: object) -> None:
        self._lock.release()


class ForkAwareLocal(threading.local):
    """A thread-local whose attributes are dropped in forked children."""

    def __init__(self) -> None:
        register_after_fork(self, lambda obj: obj.__dict__.clear())

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return type(self), ()
