"""``mproc.dummy``: the same API, backed by threads (stdlib ``multiprocessing.dummy``).

Useful for I/O-bound work and for testing code written against the process API
without starting processes.
"""

from queue import Queue
from queue import Queue as JoinableQueue
from threading import Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore

from . import connection
from ._threads import (
    Array,
    DummyProcess,
    Manager,
    Namespace,
    Pool,
    Value,
    active_children,
    current_process,
    freeze_support,
    shutdown,
)
from ._threads import DummyProcess as Process
from .connection import Pipe

__all__ = [
    "Process",
    "current_process",
    "active_children",
    "freeze_support",
    "Lock",
    "RLock",
    "Semaphore",
    "BoundedSemaphore",
    "Condition",
    "Event",
    "Barrier",
    "Queue",
    "Manager",
    "Pipe",
    "Pool",
    "JoinableQueue",
]
