"""mproc: processes managed like threads, a drop-in for ``multiprocessing``.

``import mproc as multiprocessing`` works for existing programs. The names below
are bound to the default context, exactly as the stdlib binds its own.
"""

from . import context, process, reduction  # context: as the stdlib's package after import
from ._context import default_context as _ctx
from ._runtime.log import SUBDEBUG, SUBWARNING
from .errors import AuthenticationError, BufferTooShort, ProcessError, TimeoutError

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

Process = _ctx.Process
Array = _ctx.Array
Barrier = _ctx.Barrier
BoundedSemaphore = _ctx.BoundedSemaphore
Condition = _ctx.Condition
Event = _ctx.Event
JoinableQueue = _ctx.JoinableQueue
Lock = _ctx.Lock
Manager = _ctx.Manager
Pipe = _ctx.Pipe
Pool = _ctx.Pool
Queue = _ctx.Queue
RLock = _ctx.RLock
RawArray = _ctx.RawArray
RawValue = _ctx.RawValue
Semaphore = _ctx.Semaphore
SimpleQueue = _ctx.SimpleQueue
Value = _ctx.Value
active_children = _ctx.active_children
allow_connection_pickling = _ctx.allow_connection_pickling
cpu_count = _ctx.cpu_count
current_process = _ctx.current_process
freeze_support = _ctx.freeze_support
get_all_start_methods = _ctx.get_all_start_methods
get_context = _ctx.get_context
get_logger = _ctx.get_logger
get_start_method = _ctx.get_start_method
log_to_stderr = _ctx.log_to_stderr
parent_process = _ctx.parent_process
reducer = _ctx.reducer
set_executable = _ctx.set_executable
set_forkserver_preload = _ctx.set_forkserver_preload
set_start_method = _ctx.set_start_method
