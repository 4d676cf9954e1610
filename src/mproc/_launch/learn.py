"""The fork server learns which modules its children import, and imports them once.

A forkserver child unpickles its process object, which imports the module its
target comes from. In a fresh fork every page that import writes is a copy-on-write
fault, about 0.5 ms for a small module on a virtual machine: a third of the cost of
starting a trivial process. The stdlib lets users name such modules
(``set_forkserver_preload``); mproc also learns them::

    parent                          server                          spare child
      request + target modules  ->  a module not imported yet:
                                    fork the next spare as a probe -> import it quietly;
                                                                      no exception, no new
                                    <------------------------------  thread, no new fd? "+"
                                    "+": import it here (children
                                    inherit it); "-": never again

Only a module whose import a throwaway child has shown to be clean is imported in
the server, so the server never gains a thread or an open file (which every later
fork would inherit). The import's output goes to /dev/null: it already happened
once, in the probe. A child whose target module is preloaded sees it as a fork
child does: imported once, before it existed. ``MPROC_FORKSERVER_LEARN=0`` in the
parent's environment turns learning off.
"""

from __future__ import annotations

import os
import sys
import threading

from .base import flush_std_streams

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Learner", "import_quietly", "target_modules", "LEARN_ENV", "MAX_LEARNED"]

LEARN_ENV = "MPROC_FORKSERVER_LEARN"
MAX_LEARNED = 32


def learning_enabled() -> bool:
    return os.environ.get(LEARN_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def target_modules(process_obj: Any) -> list[str]:
    """Modules a child will import to unpickle ``process_obj``'s code (parent side)."""
    names = []
    for obj in (getattr(process_obj, "_target", None), type(process_obj)):
        func = getattr(obj, "func", obj)  # functools.partial
        name = getattr(func, "__module__", None)
        if (isinstance(name, str) and name not in ("__main__", "__mp_main__", "builtins")
                and not name.startswith("mproc.") and name in sys.modules):
            names.append(name)
    return names


def _open_fds() -> set[int]:
    try:
        listed = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return set()
    found = set()
    for fd in listed:  # minus the one listdir itself had open
        try:
            os.fstat(fd)
        except OSError:
            continue
        found.add(fd)
    return found


def _thread_count() -> int:
    """Threads of this process, native ones included (an OpenBLAS or OpenMP pool that
    a C extension starts at import is as unsafe to fork as a Python thread)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def import_quietly(name: str) -> bool:
    """Import ``name`` with its output discarded; True if that left no trace but the
    module itself: no exception, no new thread, no new open file."""
    flush_std_streams()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    before = _open_fds()
    threads = _thread_count()
    ok = False
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        try:
            __import__(name)
            ok = True
        except BaseException:
            ok = False
        flush_std_streams()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)
    return ok and _thread_count() == threads and _open_fds() <= before


class Learner:
    """The server's record of which modules requests name, and what it learned."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._known: set[str] = set()  # ever named: waiting, being probed, or decided
        self._waiting: list[str] = []  # named, not probed yet, in order
        self._learned = 0

    def note(self, names: list[str]) -> None:
        if self.enabled:
            for name in names:
                if name not in self._known:
                    self._known.add(name)
                    self._waiting.append(name)

    def next_probe(self) -> str | None:
        """A module to probe in the next spare, if one is waiting."""
        while self._waiting and self._learned < MAX_LEARNED:
            name = self._waiting.pop(0)
            if name not in sys.modules:  # else imported along with another one
                return name
        return None

    def result(self, name: str, clean: bool) -> None:
        """The probe's verdict; a clean module is imported here, now (a refused one
        stays known, so it is never probed again)."""
        if clean and import_quietly(name):
            self._learned += 1
