"""Helpers shared by the tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import mproc

TIMEOUT = 30


@contextlib.contextmanager
def started(*procs: mproc.Process, timeout: float = TIMEOUT) -> Iterator[tuple[mproc.Process, ...]]:
    """Start processes; on the way out kill whatever is still running and join it."""
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            if p._popen is not None and p.exitcode is None:
                p.kill()
        for p in procs:
            if p._popen is not None:
                p.join(timeout)
