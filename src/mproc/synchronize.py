"""Locks, semaphores, conditions, events and barriers (stdlib ``multiprocessing.synchronize``).

Beyond the stdlib: a Lock or RLock whose holder process dies is released on its
behalf and handed to a waiting process, which gets a ``LockRecoveredWarning``
(see ``mproc._sync.owner``).
"""

from . import util  # the stdlib's package has these after this import
from ._sync.barrier import Barrier
from ._sync.condition import Condition, Event
from ._sync.locks import SEM_VALUE_MAX, BoundedSemaphore, Lock, RLock, Semaphore, SemLock
from ._sync.owner import LockRecoveredWarning

__all__ = [
    "Lock",
    "RLock",
    "Semaphore",
    "BoundedSemaphore",
    "Condition",
    "Event",
    "Barrier",
    "SemLock",
    "SEM_VALUE_MAX",
    "LockRecoveredWarning",
]
