"""``python -m mproc run``: an unmodified program, with mproc as multiprocessing.

The program runs in this very process (so its exit status and the signals that
end it are its own); the alias is installed here, passed to spawned and forkserver
children through their preparation data, and to fresh interpreters the program
starts itself through a PYTHONPATH shim.
"""

from __future__ import annotations

import os
import runpy
import sys

from .. import _alias

__all__ = ["run_script", "run_module"]


def _install_alias() -> None:
    _alias.install()
    shim = _alias.shim_dir()
    current = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = shim + (os.pathsep + current if current else "")


def run_script(path: str, args: list[str]) -> int:
    if not os.path.exists(path):
        sys.stderr.write(f"python -m mproc run: error: no such file: {path}\n")
        return 2
    _install_alias()
    sys.argv = [path, *args]
    sys.path[0:0] = [os.path.dirname(os.path.abspath(path))]
    runpy.run_path(path, run_name="__main__")
    return 0


def run_module(name: str, args: list[str]) -> int:
    _install_alias()
    sys.argv = [name, *args]
    sys.path[0:0] = [os.getcwd()]
    try:
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    except ImportError as exc:
        if getattr(exc, "name", None) == name.split(".")[0]:
            sys.stderr.write(f"python -m mproc run: error: no module named {name!r}\n")
            return 2
        raise
    return 0
