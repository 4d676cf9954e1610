"""The resource tracker (stdlib ``multiprocessing.resource_tracker``).

A helper process that removes named semaphores and shared-memory segments whose
creator died without removing them; see ``mproc._shm.tracker``.
"""

from . import spawn, util  # the stdlib's package has these after this import
from ._shm.tracker import (
    _CLEANUP_FUNCS,
    ResourceTracker,
    _resource_tracker,
    ensure_running,
    getfd,
    register,
    unregister,
)
from ._sync import semlock as _semlock  # noqa: F401 - registers the "semaphore" cleanup

__all__ = ["ensure_running", "register", "unregister", "getfd", "ResourceTracker"]
