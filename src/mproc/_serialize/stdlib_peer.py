"""Objects of the stdlib's ``multiprocessing`` crossing into mproc's children.

Why this exists: a program may load the stdlib's package beside mproc and build
the stdlib's objects on an mproc context. ``concurrent.futures`` does exactly that
when given ``mp_context=mproc.get_context("spawn")``: its call queue is a subclass
of the stdlib's ``Queue``, made of the stdlib's ``Connection`` objects and mproc's
locks, and it is pickled into every worker mproc spawns. Two things the stdlib's
classes rely on must then hold inside mproc's launch:

* the stdlib's reducers (its ``Connection``, ``socket``) are in the pickler's
  table: :func:`peer_reducers` gives them to :mod:`.pickler`;
* the stdlib's "a child is being started" state is set, with a launcher that
  answers its fd hand-over protocol (``duplicate_for_child`` then ``DupFd``):
  :func:`peer_spawning` sets it, with mproc's own inherited-fd tickets, while mproc
  pickles a child's process object.

The stdlib's package is never imported here: it is only used when the program
has loaded it, found in ``sys.modules`` and recognised as not being mproc (under
``python -m mproc run`` the name ``multiprocessing`` *is* mproc, and none of this
applies).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType
    from typing import Any

__all__ = ["peer_module", "peer_reducers", "peer_spawning"]


def peer_module(submodule: str) -> ModuleType | None:
    """``multiprocessing.<submodule>`` if the real stdlib's is loaded, else None."""
    module = sys.modules.get("multiprocessing." + submodule)
    if module is None or module.__name__ != "multiprocessing." + submodule:
        return None  # not loaded, or the alias (mproc under the stdlib's name)
    return module


_found: dict[Any, Any] | None = None


def peer_reducers() -> dict[Any, Any] | None:
    """The reducers the stdlib registered for its own types, if it is loaded.

    Asked for every message mproc pickles, so the answer is kept once found (the
    stdlib's registry is one dict for the life of the process).
    """
    global _found
    if _found is not None:
        return _found
    if "multiprocessing.reduction" not in sys.modules:
        return None
    reduction = peer_module("reduction")
    pickler = getattr(reduction, "ForkingPickler", None)
    reducers = getattr(pickler, "_extra_reducers", None)
    if isinstance(reducers, dict):
        _found = reducers
        return reducers
    return None


class _PeerLauncher:
    """mproc's launcher as the stdlib's reducers expect to find it while spawning."""

    __slots__ = ("_launcher",)

    def __init__(self, launcher: Any) -> None:
        self._launcher = launcher

    def duplicate_for_child(self, fd: int) -> int:
        return int(self._launcher.duplicate_for_child(fd))

    def DupFd(self, index: int) -> Any:  # noqa: N802 - the stdlib's protocol name
        from .fds import InheritedFd

        return InheritedFd(index)


@contextmanager
def peer_spawning(launcher: Any) -> Iterator[None]:
    """Mark the stdlib as spawning (through ``launcher``) too, if it is loaded."""
    context = peer_module("context")
    setter = getattr(context, "set_spawning_popen", None)
    getter = getattr(context, "get_spawning_popen", None)
    if setter is None or getter is None:
        yield
        return
    previous = getter()
    setter(_PeerLauncher(launcher))
    try:
        yield
    finally:
        setter(previous)
