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
    import logging
    from collections.abc import Callable, Iterable, Sequence
    from ctypes import Array as _CArray
    from ctypes import _CData, _SimpleCData, c_char
    from types import ModuleType
    from typing import Any, Literal, TypeAlias, TypeVar, overload

    from .._managers.manager import SyncManager as _SyncManager
    from .._pool.front import Pool as _Pool
    from .._queues.queue import JoinableQueue as _JoinableQueue
    from .._queues.queue import Queue as _Queue
    from .._queues.simple import SimpleQueue as _SimpleQueue
    from .._shm.ctypes_shared import LockLike as _LockLike
    from .._shm.ctypes_shared import Synchronized as _Synchronized
    from .._shm.ctypes_shared import SynchronizedArray as _SynchronizedArray
    from .._shm.ctypes_shared import SynchronizedString as _SynchronizedString
    from .._sync.barrier import Barrier as _Barrier
    from .._sync.condition import Condition as _Condition
    from .._sync.condition import Event as _Event
    from .._sync.locks import BoundedSemaphore as _BoundedSemaphore
    from .._sync.locks import Lock as _Lock
    from .._sync.locks import RLock as _RLock
    from .._sync.locks import Semaphore as _Semaphore
    from .._wire.connection import Connection as _Connection

    _T = TypeVar("_T")
    _CT = TypeVar("_CT", bound=_CData)
    _LockArg: TypeAlias = bool | _LockLike
else:
    from .._runtime.generic import overload

__all__ = ["BaseContext", "DefaultContext", "default_context", "get_context_for", "cpu_count"]


def cpu_count() -> int:
    """The number of CPUs in the system (as the stdlib reports it)."""
    count = os.cpu_count()
    if count is None:
        raise NotImplementedError("cannot determine number of cpus")
    return count


class BaseContext:
    """The methods every context offers (the stdlib's module-level API).

    A context ties a start method to the objects whose processes must be started
    that way: ``ctx.Process``, ``ctx.Pool()``, ``ctx.Queue()``, ``ctx.Lock()``...
    Get one with ``mproc.get_context("spawn")`` (or ``"fork"``, ``"forkserver"``).
    """

    _name: str | None = None
    Process: type[BaseProcess]

    ProcessError = errors.ProcessError
    BufferTooShort = errors.BufferTooShort
    TimeoutError = errors.TimeoutError
    AuthenticationError = errors.AuthenticationError

    current_process: staticmethod[[], BaseProcess] = staticmethod(current_process)
    parent_process: staticmethod[[], BaseProcess | None] = staticmethod(parent_process)
    active_children: staticmethod[[], list[BaseProcess]] = staticmethod(active_children)

    def cpu_count(self) -> int:
        """The number of CPUs in the system; raises NotImplementedError if unknown."""
        return cpu_count()

    def Manager(self) -> _SyncManager:  # noqa: N802 - stdlib names throughout
        """Start a manager process and return its SyncManager, already started.

        The manager process holds ordinary Python objects; ``m.dict()``, ``m.list()``,
        ``m.Queue()``, ``m.Lock()``, ``m.Value()``, ``m.Namespace()``... create one there
        and return a proxy, which can be passed to other processes. Use it as a
        context manager (``with mproc.Manager() as m:``) so that its process is shut
        down at the end; it also stops by itself when this process is gone.

        Returns:
            mproc.managers.SyncManager: started, with this context's start method.

        Raises:
            mproc.ProcessError: the manager process could not be started.
        """
        from ..managers import SyncManager

        manager = SyncManager(ctx=self.get_context())
        manager.start()
        return manager

    def Pipe(self, duplex: bool = True) -> tuple[_Connection, _Connection]:  # noqa: N802
        """A pair of connected Connections, ``(conn1, conn2)``.

        Args:
            duplex: True (the default): both ends send and receive (a socketpair).
                False: ``conn1`` only receives and ``conn2`` only sends (an OS pipe).

        Each end has ``send(obj)``/``recv()`` (pickled; lambdas and closures work),
        ``send_bytes``/``recv_bytes``, ``poll(timeout)`` and ``close()``; pass an end
        to a child as a Process argument. ``recv()`` raises EOFError once the other
        end is closed and nothing is left.
        """
        from .._wire.pipes import Pipe

        return Pipe(duplex)

    def Lock(self) -> _Lock:  # noqa: N802
        """A non-recursive lock shared by processes (``with lock:``, ``acquire``/``release``).

        Beyond the stdlib: if the process holding it dies, the next process waiting
        for it takes it over and gets a ``LockRecoveredWarning`` (what the lock
        protected may be half updated).
        """
        from ..synchronize import Lock

        return Lock(ctx=self.get_context())

    def RLock(self) -> _RLock:  # noqa: N802
        """A recursive lock shared by processes: its owner may acquire it again.

        Released as many times as acquired, by the owning process and thread. As for
        ``Lock``, a lock whose holder process died is taken over, with a
        ``LockRecoveredWarning``.
        """
        from ..synchronize import RLock

        return RLock(ctx=self.get_context())

    def Condition(self, lock: _LockLike | None = None) -> _Condition:  # noqa: N802
        """A condition variable shared by processes (``wait``, ``wait_for``, ``notify``).

        Args:
            lock: the Lock or RLock it is bound to; None makes a new RLock.
        """
        from ..synchronize import Condition

        return Condition(lock, ctx=self.get_context())

    def Semaphore(self, value: int = 1) -> _Semaphore:  # noqa: N802
        """A counting semaphore shared by processes.

        Args:
            value: the initial count; ``acquire()`` blocks while the count is 0.

        Raises:
            ValueError: ``value`` is negative.
        """
        from ..synchronize import Semaphore

        return Semaphore(value, ctx=self.get_context())

    def BoundedSemaphore(self, value: int = 1) -> _BoundedSemaphore:  # noqa: N802
        """A semaphore that may not be released above its initial ``value``.

        Args:
            value: the initial (and largest) count.

        A ``release()`` that would go above ``value`` raises ValueError.
        """
        from ..synchronize import BoundedSemaphore

        return BoundedSemaphore(value, ctx=self.get_context())

    def Event(self) -> _Event:  # noqa: N802
        """A flag shared by processes: ``set()``, ``clear()``, ``is_set()``, ``wait(timeout)``."""
        from ..synchronize import Event

        return Event(ctx=self.get_context())

    def Barrier(self, parties: int, action: Callable[[], object] | None = None,  # noqa: N802
                timeout: float | None = None) -> _Barrier:
        """A barrier shared by processes: ``wait()`` returns once ``parties`` have called it.

        Args:
            parties: how many processes (or threads) must call ``wait()``.
            action: called by one of them when the barrier opens.
            timeout: the default timeout of ``wait()``, in seconds; past it the
                barrier is broken and ``wait()`` raises ``threading.BrokenBarrierError``.
        """
        from ..synchronize import Barrier

        return Barrier(parties, action, timeout, ctx=self.get_context())

    def Queue(self, maxsize: int = 0) -> _Queue[Any]:  # noqa: N802
        """A FIFO queue shared by processes (the stdlib's ``multiprocessing.Queue``).

        Args:
            maxsize: ``put()`` blocks while the queue holds this many items;
                0 or less means unbounded.

        Returns:
            mproc.queues.Queue: ``put(obj, block, timeout)``, ``get(block, timeout)``
            (``queue.Full``/``queue.Empty`` on timeout), ``qsize()``, ``empty()``,
            ``close()``... Annotate the variable to give its items a type:
            ``q: mproc.queues.Queue[int] = mproc.Queue()``.

        Beyond the stdlib: ``put()`` pickles in the caller, so an unpicklable item
        raises there (the stdlib loses it in a background thread); a process may exit
        or be joined before its items are read, and a writer killed mid-put cannot
        leave a torn message; large bytes and numpy arrays travel through shared
        memory.
        """
        from ..queues import Queue

        return Queue(maxsize, ctx=self.get_context())

    def JoinableQueue(self, maxsize: int = 0) -> _JoinableQueue[Any]:  # noqa: N802
        """A Queue with ``task_done()`` and ``join()``: wait until every item is processed.

        Args:
            maxsize: as for ``Queue``.

        Each ``get()`` must be followed by one ``task_done()``; ``join()`` blocks until
        every item put has been marked done (ValueError if called too often).
        """
        from ..queues import JoinableQueue

        return JoinableQueue(maxsize, ctx=self.get_context())

    def SimpleQueue(self) -> _SimpleQueue[Any]:  # noqa: N802
        """An unbounded queue with only ``put``, ``get``, ``empty`` and ``close``.

        Lighter than ``Queue`` (no ``maxsize``, no timeouts); ``put()`` raises
        pickling errors in the caller.
        """
        from ..queues import SimpleQueue

        return SimpleQueue(ctx=self.get_context())

    def Pool(self, processes: int | None = None,  # noqa: N802
             initializer: Callable[..., object] | None = None,
             initargs: Iterable[Any] = (), maxtasksperchild: int | None = None, *,
             backend: str | None = None, cluster: Any = None, retries: int = 0,
             retries_on_timeout: bool = False, memory_limit: int | None = None) -> _Pool:
        """A pool of worker processes (the stdlib's ``multiprocessing.Pool``).

        ``with mproc.Pool() as pool: pool.map(f, xs)``. ``f`` may be a lambda, a
        closure or a function of ``__main__``, under every start method.

        Args:
            processes: the number of workers; None: the CPUs this process may use
                (its affinity mask and cgroup CPU limit), not the machine's count.
            initializer: called as ``initializer(*initargs)`` in each worker when it
                starts.
            initargs: the arguments of ``initializer``.
            maxtasksperchild: a worker exits and is replaced after this many tasks
                (None: never).
            backend: ``"processes"`` (the default), ``"threads"``, or ``"dask"``: the
                tasks run on a Dask cluster (``pip install pymproc[dask]``).
            cluster: where a ``"dask"`` pool runs: a scheduler address
                (``"tcp://host:8786"``), a ``distributed.Client``, or None (a
                ``LocalCluster`` the pool starts and stops, unless ``MPROC_CLUSTER``
                or dask's ``scheduler-address`` names one). See ``mproc.pool.Pool``.
            retries: run a task whose worker died again, up to this many times
                (at-least-once; a task that raised never runs again).
            retries_on_timeout: count a task past its ``timeout=`` as such a death.
            memory_limit: bytes of resident memory a worker may reach while it runs
                a task; past it the worker is killed and the task fails with
                ``mproc.errors.MemoryLimitError``.

        Returns:
            mproc.pool.Pool: its ``map``, ``imap``, ``starmap``, ``apply_async``... take
            mproc's ``timeout=`` (seconds per call: ``mproc.errors.TaskTimeoutError``,
            the worker killed and replaced) and ``progress=`` (True: a tqdm bar; a
            callable: ``progress(done, total)``); ``imap`` reads its input lazily
            (``buffersize=``). A worker that dies fails only the task it was running,
            with ``mproc.errors.WorkerLostError``, and is replaced.

        Raises:
            ValueError: ``processes`` < 1 or a bad ``maxtasksperchild``.
            TypeError: ``initializer`` is not callable.

        Leaving the ``with`` block terminates the workers; call ``pool.close()`` and
        ``pool.join()`` inside it to wait for the work to finish.
        """
        from ..pool import Pool

        return Pool(processes, initializer, initargs, maxtasksperchild,
                    context=self.get_context(), backend=backend, cluster=cluster,
                    retries=retries, retries_on_timeout=retries_on_timeout,
                    memory_limit=memory_limit)

    @overload
    def RawValue(self, typecode_or_type: type[_CT], *args: Any) -> _CT: ...  # noqa: N802
    @overload
    def RawValue(self, typecode_or_type: str, *args: Any) -> Any: ...  # noqa: N802
    def RawValue(self, typecode_or_type: Any, *args: Any) -> Any:  # noqa: N802
        """A ctypes object in shared memory, without a lock.

        Args:
            typecode_or_type: an ``array`` typecode (``"i"``, ``"d"``...) or a ctypes
                type (``ctypes.c_int``, a ``Structure``...).
            *args: the initial value(s), as for the ctypes type.

        Fork children inherit it; pass it to other children as a Process argument.
        """
        from ..sharedctypes import RawValue

        return RawValue(typecode_or_type, *args)

    @overload
    def RawArray(self, typecode_or_type: type[_CT],  # noqa: N802
                 size_or_initializer: int | Sequence[Any]) -> _CArray[_CT]: ...
    @overload
    def RawArray(self, typecode_or_type: str,  # noqa: N802
                 size_or_initializer: int | Sequence[Any]) -> _CArray[Any]: ...
    def RawArray(self, typecode_or_type: Any,  # noqa: N802
                 size_or_initializer: int | Sequence[Any]) -> Any:
        """A ctypes array in shared memory, without a lock.

        Args:
            typecode_or_type: an ``array`` typecode (``"i"``, ``"d"``...) or a ctypes type.
            size_or_initializer: the length (zero-filled) or a sequence of initial items.
        """
        from ..sharedctypes import RawArray

        return RawArray(typecode_or_type, size_or_initializer)

    @overload
    def Value(self, typecode_or_type: type[_CT], *args: Any,  # noqa: N802
              lock: Literal[False]) -> _CT: ...
    @overload
    def Value(self, typecode_or_type: type[_SimpleCData[_T]], *args: Any,  # noqa: N802
              lock: Literal[True] | _LockLike = True) -> _Synchronized[_T]: ...
    @overload
    def Value(self, typecode_or_type: str, *args: Any,  # noqa: N802
              lock: Literal[True] | _LockLike = True) -> _Synchronized[Any]: ...
    @overload
    def Value(self, typecode_or_type: str | type[_CData], *args: Any,  # noqa: N802
              lock: _LockArg = True) -> Any: ...
    def Value(self, typecode_or_type: Any, *args: Any, lock: _LockArg = True) -> Any:  # noqa: N802
        """A ctypes value in shared memory, with a lock: ``v.value``, ``v.get_lock()``.

        ``counter = mproc.Value("i", 0)``, then in any process
        ``with counter.get_lock(): counter.value += 1`` (``+=`` reads and writes: it
        needs the lock).

        Args:
            typecode_or_type: an ``array`` typecode (``"i"``, ``"d"``, ``"c"``...) or a
                ctypes type (``ctypes.c_int``, ``ctypes.c_double``, a ``Structure``).
            *args: the initial value (zero if omitted).
            lock: True (the default): a new RLock guards it; a Lock or RLock: that one;
                False: no lock, and the raw ctypes object is returned.

        Returns:
            mproc.sharedctypes.Synchronized: (or the raw ctypes object with
            ``lock=False``). Fork children inherit it; pass it to other children as a
            Process argument.

        Raises:
            TypeError: ``typecode_or_type`` is neither a known typecode nor a ctypes type.
        """
        from ..sharedctypes import Value

        return Value(typecode_or_type, *args, lock=lock, ctx=self.get_context())

    @overload
    def Array(self, typecode_or_type: type[_CT],  # noqa: N802
              size_or_initializer: int | Sequence[Any], *,
              lock: Literal[False]) -> _CArray[_CT]: ...
    @overload
    def Array(self, typecode_or_type: type[c_char],  # noqa: N802
              size_or_initializer: int | Sequence[Any], *,
              lock: Literal[True] | _LockLike = True) -> _SynchronizedString: ...
    @overload
    def Array(self, typecode_or_type: type[_SimpleCData[_T]],  # noqa: N802
              size_or_initializer: int | Sequence[Any], *,
              lock: Literal[True] | _LockLike = True) -> _SynchronizedArray[_T]: ...
    @overload
    def Array(self, typecode_or_type: str,  # noqa: N802
              size_or_initializer: int | Sequence[Any], *,
              lock: Literal[True] | _LockLike = True) -> _SynchronizedArray[Any]: ...
    @overload
    def Array(self, typecode_or_type: str | type[_CData],  # noqa: N802
              size_or_initializer: int | Sequence[Any], *, lock: _LockArg = True) -> Any: ...
    def Array(self, typecode_or_type: Any,  # noqa: N802
              size_or_initializer: int | Sequence[Any], *, lock: _LockArg = True) -> Any:
        """A ctypes array in shared memory, with a lock: ``a[i]``, ``len(a)``, ``a.get_lock()``.

        Args:
            typecode_or_type: an ``array`` typecode (``"i"``, ``"d"``, ``"c"``...) or a
                ctypes type.
            size_or_initializer: the length (zero-filled) or a sequence of initial items.
            lock: as for ``Value``: True (a new RLock), a Lock or RLock, or False (the
                raw ctypes array is returned).

        Returns:
            mproc.sharedctypes.SynchronizedArray: (``SynchronizedString``, with
            ``.value`` and ``.raw``, for ``"c"``), or the raw ctypes array with
            ``lock=False``.
        """
        from ..sharedctypes import Array

        return Array(typecode_or_type, size_or_initializer, lock=lock, ctx=self.get_context())

    def freeze_support(self) -> None:
        """Nothing to do outside frozen Windows executables; kept for compatibility."""

    def get_logger(self) -> logging.Logger:
        """The ``mproc`` logger (no handlers until ``log_to_stderr``)."""
        return log.get_logger()

    def log_to_stderr(self, level: int | str | None = None) -> logging.Logger:
        """Send the ``mproc`` logger's records to stderr, at ``level`` if given."""
        return log.log_to_stderr(level)

    def allow_connection_pickling(self) -> None:
        """Connections are always picklable in mproc; kept for compatibility."""
        from .. import connection  # noqa: F401 - registers the reducers

    def set_executable(self, executable: str) -> None:
        """Set the Python interpreter that spawned children run (default: sys.executable)."""
        _set_executable(executable)

    def set_forkserver_preload(self, module_names: list[str]) -> None:
        """Name modules for the fork server to import once, so its children start with them.

        mproc's fork server also learns the modules that process targets come from by
        itself (see docs/decisions.md); ``MPROC_FORKSERVER_LEARN=0`` turns that off.
        """
        forkserver.set_forkserver_preload(module_names)

    @overload
    def get_context(self, method: None = None) -> BaseContext: ...
    @overload
    def get_context(self, method: Literal["spawn"]) -> SpawnContext: ...
    @overload
    def get_context(self, method: Literal["fork"]) -> ForkContext: ...
    @overload
    def get_context(self, method: Literal["forkserver"]) -> ForkServerContext: ...
    @overload
    def get_context(self, method: str) -> BaseContext: ...
    def get_context(self, method: str | None = None) -> BaseContext:
        """The context of a start method, or with None the one in use.

        ``"spawn"``, ``"fork"`` and ``"forkserver"`` give a SpawnContext, ForkContext
        and ForkServerContext; an unknown name raises ValueError. From the default
        context, ``get_context()`` is the concrete context of the current start method.
        """
        if method is None:
            return self._current()
        try:
            return _CONCRETE[method]
        except KeyError:
            raise ValueError(f"cannot find context for {method!r}") from None

    def _current(self) -> BaseContext:
        return self

    def get_start_method(self, allow_none: bool = False) -> str | None:
        """This context's start method (``"fork"``, ``"spawn"`` or ``"forkserver"``)."""
        return self._name

    def set_start_method(self, method: str | None, force: bool = False) -> None:
        """Only the default context's start method can be set; this one raises ValueError."""
        raise ValueError("cannot set start method of concrete context")

    def get_all_start_methods(self) -> list[str]:
        """The start methods this platform supports, the default first."""
        return _all_start_methods()

    @property
    def reducer(self) -> ModuleType:
        """The ``mproc.reduction`` module (mproc has one serializer; it cannot be set)."""
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


class ForkProcess(BaseProcess):
    """A Process started with ``fork``: the child is a copy of the parent."""

    _start_method = "fork"

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802
        return _FORK_LAUNCH(process_obj)


class SpawnProcess(BaseProcess):
    """A Process started with ``spawn``: a fresh interpreter that imports the main module."""

    _start_method = "spawn"

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802
        return _SPAWN_LAUNCH(process_obj)


class ForkServerProcess(BaseProcess):
    """A Process started with ``forkserver``: forked from a clean server process."""

    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802
        return _FORKSERVER_LAUNCH(process_obj)


_FORK_LAUNCH = METHODS["fork"]
_SPAWN_LAUNCH = METHODS["spawn"]
_FORKSERVER_LAUNCH = METHODS["forkserver"]


class ForkContext(BaseContext):
    """The context of the ``fork`` start method (``mproc.get_context("fork")``)."""

    _name = "fork"
    Process: type[ForkProcess] = ForkProcess


class SpawnContext(BaseContext):
    """The context of the ``spawn`` start method (``mproc.get_context("spawn")``)."""

    _name = "spawn"
    Process: type[SpawnProcess] = SpawnProcess


class ForkServerContext(BaseContext):
    """The context of the ``forkserver`` start method (``mproc.get_context("forkserver")``)."""

    _name = "forkserver"
    Process: type[ForkServerProcess] = ForkServerProcess


for _cls in (ForkProcess, SpawnProcess, ForkServerProcess,
             ForkContext, SpawnContext, ForkServerContext):
    _cls.__module__ = "mproc.context"

# Class names as the stdlib's (CPython's suite checks them).
_CONCRETE: dict[str, BaseContext] = {
    "fork": ForkContext(),
    "spawn": SpawnContext(),
    "forkserver": ForkServerContext(),
}


def get_context_for(method: str) -> BaseContext:
    """The concrete context of a start method (KeyError if unknown)."""
    return _CONCRETE[method]


class Process(BaseProcess):
    """A process started with the current default start method."""

    _start_method = None

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802
        return default_context.get_context().Process._Popen(process_obj)


Process.__module__ = "mproc.context"
_DefaultProcess = Process


class DefaultContext(BaseContext):
    """The context behind ``mproc.*``: follows ``set_start_method``.

    Its factories (``mproc.Queue``, ``mproc.Pool``...) use the start method chosen
    with ``mproc.set_start_method``, or the platform's default.
    """

    Process: type[_DefaultProcess] = _DefaultProcess

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

    def _current(self) -> BaseContext:
        """The concrete context of the current start method (a ForkContext,
        SpawnContext or ForkServerContext); asking fixes the default start method,
        as in the stdlib."""
        actual = self._actual()
        if actual is None:
            actual = self._actual_context = self._default_context
        return actual

    def set_start_method(self, method: str | None, force: bool = False) -> None:
        """Choose the start method of ``mproc.*`` (once: ``force=True`` to change it).

        Call it under ``if __name__ == "__main__":`` before starting anything.
        RuntimeError if it was set (or used) already, ValueError if unknown.
        """
        if self._actual() is not None and not force:
            raise RuntimeError("context has already been set")
        if method is None and force:
            self._actual_context = None
            STATE.start_method_in_child = self._applied_child_method = None
            return
        self._actual_context = self.get_context(method)
        self._applied_child_method = STATE.start_method_in_child

    def get_start_method(self, allow_none: bool = False) -> str | None:
        """The start method in use (fixing the default one unless ``allow_none``)."""
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
