"""Child side of spawn and forkserver: become the process the parent described.

Reads preparation data then the pickled process object from an inherited pipe,
applies the data (sys.path, cwd, logging, ``__mp_main__``), and runs
``process_obj._bootstrap()``.
"""

from __future__ import annotations

import os
import pickle
import sys

from .._runtime.state import STATE
from .platform import open_pidfd
from .prep import apply

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

__all__ = ["spawn_main", "run_from_pipe"]


def _finish_minimal_site() -> None:
    """The parts of ``site`` a -S child still wants: exit/quit/help and customize hooks."""
    import site

    site.setquit()
    site.setcopyright()
    site.sethelper()
    site.execsitecustomize()
    if site.ENABLE_USER_SITE:
        site.execusercustomize()


def _read_process(stream: BinaryIO, minimal_site: bool) -> Any:
    prep = pickle.load(stream)
    if "inherited_fds" in prep:  # spawn; the fork server sets them itself
        STATE.inherited_fds = list(prep["inherited_fds"])
    STATE.helper_fds = {name: STATE.inherited_fds[index]
                        for name, index in prep.get("helper_fds", {}).items()}
    current = STATE.current
    if current is not None:
        current.name = prep["name"]
        current.authkey = prep["authkey"]
    sys_path = prep["sys_path"]
    if minimal_site:
        sys.path[:] = sys_path
        _finish_minimal_site()
    apply(prep)
    STATE.bootstrapping = True
    try:
        return pickle.load(stream)
    finally:
        STATE.bootstrapping = False


def run_from_pipe(data_fd: int, parent_pid: int, minimal_site: bool,
                  forked: bool = False, guarded: bool = False) -> int:
    """Read the process object from ``data_fd`` and run it; return the exit code.

    ``forked``: this process is a fork of the fork server, not a fresh interpreter.
    ``guarded``: the fork server stops it if the parent dies (no watch thread here).
    """
    with os.fdopen(data_fd, "rb", closefd=True) as stream:
        try:
            process_obj = _read_process(stream, minimal_site)
        except BaseException:
            import traceback

            traceback.print_exc()
            return 1
    return process_obj._bootstrap(parent_pid=parent_pid, parent_sentinel=open_pidfd(parent_pid),
                                  forked=forked, guarded=guarded)


def spawn_main() -> None:
    """Entry point of ``python -c`` for spawned children (argv: fd, ppid, site)."""
    data_fd, parent_pid, site_mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    del sys.argv[1:]
    sys.exit(run_from_pipe(data_fd, parent_pid, site_mode == "minimal"))
