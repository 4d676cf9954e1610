"""The spawn start method: a fresh interpreter that re-imports the main module.

Parent                                   child (python -S -c ...)
  pickle process object (collects fds)
  collect preparation data
  posix_spawn, passing the data pipe  -->  read preparation data, apply it
  and the collected fds                     (sys.path, cwd, __mp_main__, ...)
  write data, close                  -->   unpickle process object, _bootstrap()

The child starts with ``-S`` and receives the parent's sys.path, which already
holds everything ``site`` added; it then runs the cheap parts of ``site``
(exit/quit/help, sitecustomize, usercustomize). When the parent has import hooks
that only a full ``site`` run would install (editable installs), or when
``MPROC_SPAWN_SITE=full``, the child runs ``site`` in full.
"""

from __future__ import annotations

import os
import sys

from .._serialize.pickler import dumps
from .._serialize.spawning import spawning_for
from .base import DirectChildLaunch
from .platform import open_pidfd
from .prep import collect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SpawnLaunch", "set_executable", "get_executable", "child_command", "hand_over_helpers",
]

_executable: str | None = None
_SAFE_FINDER_MODULES = {
    "_frozen_importlib",
    "_frozen_importlib_external",
    "importlib._bootstrap",
    "importlib._bootstrap_external",
    "importlib.machinery",
    "zipimport",
    "_distutils_hack",
    "mproc._alias",
    "six",
}


def set_executable(path: str) -> None:
    """Use ``path`` as the Python interpreter for spawned children."""
    global _executable
    _executable = os.fsdecode(path)


def get_executable() -> str:
    """The interpreter spawned children run (see ``set_executable``)."""
    exe = _executable or sys.executable
    if not exe:
        raise RuntimeError(
            "cannot spawn a child: sys.executable is not set; call "
            "mproc.set_executable('/path/to/python') first"
        )
    return exe


def _wants_full_site() -> bool:
    choice = os.environ.get("MPROC_SPAWN_SITE", "").lower()
    if choice in ("full", "minimal"):
        return choice == "full"
    if sys.flags.no_site:
        return False
    if os.environ.get("COVERAGE_PROCESS_START"):
        return True  # coverage.py measures children through a .pth start-up hook
    for finder in sys.meta_path:
        kind = finder if isinstance(finder, type) else type(finder)
        if kind.__module__ not in _SAFE_FINDER_MODULES:
            return True
    return False


def child_command(module: str, entry: str, *args: str) -> list[str]:
    """argv for a fresh interpreter that runs ``<module>.<entry>()``; a bare module
    name means one of ``mproc._launch``."""
    if "." not in module:
        module = f"mproc._launch.{module}"
    import subprocess

    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    full_site = _wants_full_site()
    if not full_site and "-S" not in flags:
        flags.append("-S")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        f"import sys; sys.path.append({root!r}); "
        f"from {module} import {entry}; {entry}()"
    )
    return [get_executable(), *flags, "-c", code, *args, "full" if full_site else "minimal"]


def hand_over_helpers(launch: Any) -> dict[str, int]:
    """Pass the helpers' fds to the child; their indexes among its inherited fds."""
    from .._runtime.state import STATE

    return {name: launch.duplicate_for_child(fd) for name, fd in STATE.helper_fds.items()}


def posix_spawn_with_fds(argv: list[str], fds: list[int]) -> int:
    actions = [(os.POSIX_SPAWN_DUP2, fd, fd) for fd in fds]
    return os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        pass  # the child died before reading; its exit code tells the story
    finally:
        os.close(fd)


class SpawnLaunch(DirectChildLaunch):
    """Starts a fresh interpreter with posix_spawn (``mproc.popen_spawn_posix.Popen``)."""

    method = "spawn"
    pid: int

    def duplicate_for_child(self, fd: int) -> int:
        """Mark ``fd`` to be passed to the child; the child sees the same number."""
        self._child_fds.append(fd)
        return len(self._child_fds) - 1

    def _launch(self, process_obj: Any) -> None:
        self._child_fds: list[int] = []
        with spawning_for(self):
            body = dumps(process_obj)
        prep = collect(process_obj.name, self.method, process_obj.authkey)
        prep["helper_fds"] = hand_over_helpers(self)
        prep["inherited_fds"] = list(self._child_fds)
        payload = dumps(prep) + body
        data_r, data_w = os.pipe()
        try:
            argv = child_command("child", "spawn_main", str(data_r), str(os.getpid()))
            self.pid = posix_spawn_with_fds(argv, [data_r, *self._child_fds])
        except BaseException:
            os.close(data_w)
            raise
        finally:
            os.close(data_r)
        sentinel = open_pidfd(self.pid)
        if sentinel is None:  # pragma: no cover - non-Linux
            raise OSError("spawn needs os.pidfd_open on this platform")
        self.sentinel = sentinel
        self._own_fds(sentinel)
        write_all(data_w, payload)
