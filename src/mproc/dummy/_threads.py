"""Thread-backed Process, shared values and pool for ``mproc.dummy``."""

from __future__ import annotations

import array
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..pool import ThreadPool

__all__ = [
    "DummyProcess",
    "current_process",
    "active_children",
    "freeze_support",
    "Namespace",
    "Value",
    "Array",
    "Manager",
    "Pool",
    "shutdown",
]


class DummyProcess(threading.Thread):
    """A thread with the Process API (exitcode, children of the starting thread)."""

    def __init__(self, group: None = None, target: Any = None, name: str | None = None,
                 args: Any = (), kwargs: Any = None) -> None:
        threading.Thread.__init__(self, group, target, name, args, kwargs or {})
        self._pid = None
        self._children: weakref.WeakKeyDictionary[Any, None] = weakref.WeakKeyDictionary()
        self._start_called = False
        self._parent = current_process()

    def start(self) -> None:
        """Start the thread (only from the thread that created this object)."""
        if self._parent is not current_process():
            raise RuntimeError(
                f"Parent is {self._parent!r} but current_process is {current_process()!r}"
            )
        self._start_called = True
        children = getattr(self._parent, "_children", None)
        if children is not None:
            children[self] = None
        threading.Thread.start(self)

    @property
    def exitcode(self) -> int | None:
        if self._start_called and not self.is_alive():
            return 0
        return None


def current_process() -> threading.Thread:
    """The current thread (in ``mproc.dummy`` processes are threads)."""
    return threading.current_thread()


def active_children() -> list[Any]:
    """The DummyProcess threads this thread started that are still alive."""
    children = getattr(current_process(), "_children", None)
    if children is None:
        return []
    for child in list(children):
        if not child.is_alive():
            children.pop(child, None)
    return list(children)


def freeze_support() -> None:
    """Nothing to do; kept for compatibility."""


class Namespace:
    """A bag of attributes with a readable repr."""

    def __init__(self, /, **kwds: Any) -> None:
        self.__dict__.update(kwds)

    def __repr__(self) -> str:
        items = [f"{k}={v!r}" for k, v in self.__dict__.items() if not k.startswith("_")]
        return f"Namespace({', '.join(sorted(items))})"


class Value:
    """A value holder with the sharedctypes ``.value`` interface."""

    def __init__(self, typecode: Any, value: Any, lock: Any = True) -> None:
        self._typecode = typecode
        self._value = value

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = value

    def __repr__(self) -> str:
        return f"<{type(self).__name__}({self._typecode!r}, {self._value!r})>"


def Array(typecode: str, sequence: Any, lock: Any = True) -> array.array[Any]:  # noqa: N802
    """An ``array.array`` (threads share memory; ``lock`` is ignored)."""
    return array.array(typecode, sequence)


def Manager() -> Any:  # noqa: N802 - stdlib name
    """The ``mproc.dummy`` module itself, which offers the manager's factories."""
    import sys

    return sys.modules["mproc.dummy"]


def shutdown() -> None:
    """Nothing to shut down; kept for compatibility."""


def Pool(processes: int | None = None, initializer: Any = None,  # noqa: N802
         initargs: Any = ()) -> ThreadPool:
    """A ThreadPool: the Pool API run by ``processes`` threads."""
    from ..pool import ThreadPool

    return ThreadPool(processes, initializer, initargs)


current_process()._children = weakref.WeakKeyDictionary()  # type: ignore[attr-defined]
