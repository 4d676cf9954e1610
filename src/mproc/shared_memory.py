"""Shared memory segments by name (stdlib ``multiprocessing.shared_memory``).

Beyond the stdlib: only the process that creates a segment registers it with the
resource tracker; processes that attach never remove it when they exit (see
``mproc._shm.segments``).
"""

from . import resource_tracker, spawn, util  # the stdlib's package has these after this import
from ._shm.segments import (
    _SHM_NAME_PREFIX,
    _SHM_SAFE_NAME_LENGTH,
    _USE_POSIX,
    ShareableList,
    SharedMemory,
    _make_filename,
)

__all__ = ["SharedMemory", "ShareableList"]
