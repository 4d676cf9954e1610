"""Contexts: the stdlib's top-level API, as thin factories over the subsystems.

A context binds a start method to everything that depends on it (Process, and the
locks, queues, pools and managers whose children must be started the same way).
``DefaultContext`` follows ``set_start_method``; ``get_context(name)`` returns a
fixed one. Factories import their subsystem on first use, so a child process that
only needs Process pays nothing for queues, pools or managers at start-up.
"""

from __future__ import annotations

import os
import sys

from .. import errors
from .._launch import DEFAULT_METHOD, METHODS
from .._launch.forkserver import forkserver
from .._launch.spawn import set_executable as _set_executable
from .._process import BaseProcess, active_children, current_process, parent_process
from .._runtime import log
from .._runtime.state import STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BaseContext", "DefaultContext", "default_context", "get_context_for", "cpu_count"]


def cpu_count() -> int:
    """The number of CPUs in the system (as the stdlib reports it)."""
    count = os.cpu_count()
    if count is None:
        raise NotImplementedError("cannot determine number of cpus")
    return count


class BaseContext:
    """The methods every context offers (the stdlib's module-level API)."""

    _name: str | None = None
    Process: type[BaseProcess]

    ProcessError = errors.ProcessError
    BufferTooShort = errors.BufferTooShort
    TimeoutError = errors.TimeoutError
    AuthenticationError = errors.AuthenticationError

    current_process = staticmethod(current_process)
    parent_process = staticmethod(parent_process)
    active_children = staticmethod(active_children)

    def cpu_count(self) -> int:
        return cpu_count()

    def Manager(self) -> Any:  # noqa: N802 - stdlib names throughout
        from ..managers import SyncManager

        manager = SyncManager(ctx=self.get_context())
        manager.start()
        return manager

    def Pipe(self, duplex: bool = True) -> Any:  # noqa: N802
        from .._wire.pipes import Pipe

        return Pipe(duplex)

    def Lock(self) -> Any:  # noqa: N802
        from ..synchronize import Lock

        return Lock(ctx=self.get_context())

    def RLock(self) -> Any:  # noqa: N802
        from ..synchronize import RLock

        return RLock(ctx=self.get_context())

    def Condition(self, lock: Any = None) -> Any:  # noqa: N802
        from ..synchronize import Condition

        return Condition(lock, ctx=self.get_context())

    def Semaphore(self, value: int = 1) -> Any:  # noqa: N802
        from ..synchronize import Semaphore

        return Semaphore(value, ctx=self.get_context())

    def BoundedSemaphore(self, value: int = 1) -> Any:  # noqa: N802
        from ..synchronize import BoundedSemaphore

        return BoundedSemaphore(value, ctx=self.get_context())

    def Event(self) -> Any:  # noqa: N802
        from ..synchronize import Event

        return Event(ctx=self.get_context())

    def Barrier(self, parties: int, action: Any = None, timeout: float | None = None) -> Any:  # noqa: N802
        from ..synchronize import Barrier

        return Barrier(parties, action, timeout, ctx=self.get_context())

    def Queue(self, maxsize: int = 0) -> Any:  # noqa: N802
        from ..queues import Queue

        return Queue(maxsize, ctx=self.get_context())

    def JoinableQueue(self, maxsize: int = 0) -> Any:  # noqa: N802
        from ..queues import JoinableQueue

        return JoinableQueue(maxsize, ctx=self.get_context())

    def SimpleQueue(self) -> Any:  # noqa: N802
        from ..queues import SimpleQueue

        return SimpleQueue(ctx=self.get_context())

    def Pool(self, processes: int | None = None, initializer: Any = None,  # noqa: N802
             initargs: Any = (), maxtasksperchild: int | None = None, **kwargs: Any) -> Any:
        from ..pool import Pool

        return Pool(processes, initializer, initargs, maxtasksperchild,
                    context=self.get_context(), **kwargs)

    def RawValue(self, typecode_or_type: Any, *args: Any) -> Any:  # noqa: N802
        from ..sharedctypes import RawValue

        return RawValue(typecode_or_type, *args)

    def RawArray(self, typecode_or_type: Any, size_or_initializer: Any) -> Any:  # noqa: N802
        from ..sharedctypes import RawArray

        return RawArray(typecode_or_type, size_or_initializer)

    def Value(self, typecode_or_type: Any, *args: Any, lock: Any = True) -> Any:  # noqa: N802
        from ..sharedctypes import Value

        return Value(typecode_or_type, *args, lock=lock, ctx=self.get_context())

    def Array(self, typecode_or_type: Any, size_or_initializer: Any, *,  # noqa: N802
              lock: Any = True) -> Any:
        from ..sharedctypes import Array

        return Array(typecode_or_type, size_or_initializer, lock=lock, ctx=self.get_context())

    def freeze_support(self) -> None:
        """Nothing to do outside frozen Windows executables; kept for compatibility."""

    def get_logger(self) -> Any:
        return log.get_logger()

    def log_to_stderr(self, level: Any = None) -> Any:
        return log.log_to_stderr(level)

    def allow_connection_pickling(self) -> None:
        """Connections are always picklable in mproc; kept for compatibility."""
        from .. import connection  # noqa: F401 - registers the reducers

    def set_executable(self, executable: str) -> None:
        _set_executable(executable)

    def set_forkserver_preload(self, module_names: list[str]) -> None:
        forkserver.set_forkserver_preload(module_names)

    def get_context(self, method: str | None = None) -> BaseContext:
        if method is None:
            return self
        try:
            return _CONCRETE[method]
        except KeyError:
            raise ValueError(f"cannot find context for {method!r}") from None

    def get_start_method(self, allow_none: bool = False) -> str | None:
        return self._name

    def set_start_method(self, method: str | None, force: bool = False) -> None:
        raise ValueError("cannot set start method of concrete context")

    def get_all_start_methods(self) -> list[str]:
        return _all_start_methods()

    @property
    def reducer(self) -> Any:
        from .. import reduction

        return reduction

    @reducer.setter
    def reducer(self, reduction: Any) -> None:
        raise ValueError("mproc has one serializer; register reducers with mproc.reduction")

    def _check_available(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.get_start_method(allow_none=True)!r}>"


def _all_start_methods() -> list[str]:
    if sys.platform == "win32":
        return ["spawn"]
    return [DEFAULT_METHOD] + [m for m in ("fork", "spawn", "forkserver") if m != DEFAULT_METHOD]


def _make_process_class(method: str) -> type[BaseProcess]:
    launch = METHODS[method]

    class _Process(BaseProcess):
        _start_method = method

        @staticmethod
        def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802
            return launch(process_obj)

    _Process.__name__ = _Process.__qualname__ = method.capitalize() + "Process"
    _Process.__module__ = "mproc.context"
    return _Process


def _make_context(method: str, stem: str) -> BaseContext:
    """The context of one start method: a BaseContext whose Process uses it."""
    process_class = _make_process_class(method)
    process_class.__name__ = process_class.__qualname__ = f"{stem}Process"
    context_class = type(f"{stem}Context", (BaseContext,),
                         {"_name": method, "Process": process_class,
                          "__module__": "mproc.context"})
    return context_class()  # type: ignore[no-any-return]


# Class names as the stdlib's (CPython's suite checks them).
_CONCRETE: dict[str, BaseContext] = {
    method: _make_context(method, stem)
    for method, stem in (("fork", "Fork"), ("spawn", "Spawn"), ("forkserver", "ForkServer"))
}
ForkContext, SpawnContext, ForkServerContext = (type(_CONCRETE[m]) for m in
                                                ("fork", "spawn", "forkserver"))
ForkProcess, SpawnProcess, ForkServerProcess = (_CONCRETE[m].Process for m in
                                                ("fork", "spawn", "forkserver"))


def get_context_for(method: str) -> BaseContext:
    return _CONCRETE[method]


class Process(BaseProcess):
    """A process started with the current default start method."""

    _start_method = None

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802
        return default_context.get_context().Process._Popen(process_obj)


Process.__module__ = "mproc.context"


class DefaultContext(BaseContext):
    """The context behind ``mproc.*``: follows set_start_method."""

    Process = Process

    def __init__(self, default: BaseContext) -> None:
        self._default_context = default
        self._actual_context: BaseContext | None = None
        self._applied_child_method: str | None = None

    def _actual(self) -> BaseContext | None:
        # A child started through a concrete context uses that context's method by
        # default (as the stdlib's children do), even if it inherited another.
        forced = STATE.start_method_in_child
        if forced is not None and forced != self._applied_child_method:
            self._applied_child_method = forced
            # A start method a library registered (loky's) may be unknown here.
            self._actual_context = _CONCRETE.get(forced, self._default_context)
        return self._actual_context

    def get_context(self, method: str | None = None) -> BaseContext:
        if method is None:
            actual = self._actual()
            if actual is None:
                actual = self._actual_context = self._default_context
            return actual
        return super().get_context(method)

    def set_start_method(self, method: str | None, force: bool = False) -> None:
        if self._actual() is not None and not force:
            raise RuntimeError("context has already been set")
        if method is None and force:
            self._actual_context = None
            STATE.start_method_in_child = self._applied_child_method = None
            return
        self._actual_context = self.get_context(method)
        self._applied_child_method = STATE.start_method_in_child

    def get_start_method(self, allow_none: bool = False) -> str | None:
        actual = self._actual()
        if actual is None:
            if allow_none:
                return None
            actual = self._actual_context = self._default_context
        return actual._name


default_context = DefaultContext(_CONCRETE[DEFAULT_METHOD])
STATE.default_context = default_context


def cleanup_for_tests() -> None:
    """Stop helper processes and run every finalizer (used by CPython's test suite)."""
    from .._process import cleanup_children
    from .._runtime.finalize import run_finalizers, set_exiting

    cleanup_children()
    run_finalizers()
    set_exiting(False)
