"""A private temp directory per process, created on demand and removed at exit.

Unix socket paths are limited to about 100 bytes, so when ``$TMPDIR`` is long the
directory is made under ``/tmp`` instead.
"""

from __future__ import annotations

import os

from . import log
from .finalize import Finalize

__all__ = ["get_temp_dir", "forget_temp_dir"]

_tempdir: str | None = None
_owner_pid: int | None = None
_MAX_BASE = 70


def _base_dir() -> str | None:
    import tempfile

    base = tempfile.gettempdir()
    if len(base) > _MAX_BASE and os.path.isdir("/tmp"):
        return "/tmp"
    return None


def _remove(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def get_temp_dir() -> str:
    """Return this process's temp dir, creating it (and its exit cleanup) once."""
    global _tempdir, _owner_pid
    if _tempdir is None or not os.path.isdir(_tempdir):
        import tempfile

        _tempdir = tempfile.mkdtemp(prefix="mproc-", dir=_base_dir())
        _owner_pid = os.getpid()
        log.info("created temp directory %s", _tempdir)
        Finalize(None, _remove, args=(_tempdir,), exitpriority=-100)
    return _tempdir


def forget_temp_dir() -> None:
    """Drop the reference (the finalizer still removes the directory)."""
    global _tempdir
    _tempdir = None
