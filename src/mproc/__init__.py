"""mproc: processes managed like threads, a drop-in for ``multiprocessing``.

``import mproc as multiprocessing`` works for existing programs. The names below
are bound to the default context, exactly as the stdlib binds its own.
"""

from __future__ import annotations

from . import context, process, reduction  # context: as the stdlib's package after import
from ._context import Process
from ._context import default_context as _ctx
from ._runtime.log import SUBDEBUG, SUBWARNING
from .errors import AuthenticationError, BufferTooShort, ProcessError, TimeoutError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final
del TYPE_CHECKING  # not a public name of this module

__version__ = "0.1.0"

__all__ = [
    "Array",
    "AuthenticationError",
    "Barrier",
    "BoundedSemaphore",
    "BufferTooShort",
    "Condition",
    "Event",
    "JoinableQueue",
    "Lock",
    "Manager",
    "Pipe",
    "Pool",
    "Process",
    "ProcessError",
    "Queue",
    "RLock",
    "RawArray",
    "RawValue",
    "SUBDEBUG",
    "SUBWARNING",
    "Semaphore",
    "SimpleQueue",
    "TimeoutError",
    "Value",
    "active_children",
    "allow_connection_pickling",
    "cpu_count",
    "current_process",
    "freeze_support",
    "get_all_start_methods",
    "get_context",
    "get_logger",
    "get_start_method",
    "log_to_stderr",
    "parent_process",
    "reducer",
    "set_executable",
    "set_forkserver_preload",
    "set_start_method",
]

Array: Final = _ctx.Array
Barrier: Final = _ctx.Barrier
BoundedSemaphore: Final = _ctx.BoundedSemaphore
Condition: Final = _ctx.Condition
Event: Final = _ctx.Event
JoinableQueue: Final = _ctx.JoinableQueue
Lock: Final = _ctx.Lock
Manager: Final = _ctx.Manager
Pipe: Final = _ctx.Pipe
Pool: Final = _ctx.Pool
Queue: Final = _ctx.Queue
RLock: Final = _ctx.RLock
RawArray: Final = _ctx.RawArray
RawValue: Final = _ctx.RawValue
Semaphore: Final = _ctx.Semaphore
SimpleQueue: Final = _ctx.SimpleQueue
Value: Final = _ctx.Value
active_children: Final = _ctx.active_children
allow_connection_pickling: Final = _ctx.allow_connection_pickling
cpu_count: Final = _ctx.cpu_count
current_process: Final = _ctx.current_process
freeze_support: Final = _ctx.freeze_support
get_all_start_methods: Final = _ctx.get_all_start_methods
get_context: Final = _ctx.get_context
get_logger: Final = _ctx.get_logger
get_start_method: Final = _ctx.get_start_method
log_to_stderr: Final = _ctx.log_to_stderr
parent_process: Final = _ctx.parent_process
reducer: Final = _ctx.reducer
set_executable: Final = _ctx.set_executable
set_forkserver_preload: Final = _ctx.set_forkserver_preload
set_start_method: Final = _ctx.set_start_method
