"""Preparation data: what a fresh interpreter needs to look like its parent.

Collected in the parent, applied in a spawn or forkserver child *before* the
process object is unpickled, because unpickling may need the parent's sys.path and
its ``__main__`` module. The main module is re-imported as ``__mp_main__`` (and
also installed as ``__main__``), so code under ``if __name__ == "__main__":`` does
not run again in the child.
"""

from __future__ import annotations

import os
import runpy
import sys
import types

from .._runtime import log
from .._runtime.state import STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["collect", "apply", "main_module_spec", "ORIGINAL_DIR"]

ORIGINAL_DIR = os.path.abspath(os.getcwd()) if os.path.exists(os.getcwd()) else None


def main_module_spec() -> tuple[str, str] | None:
    """How to re-import the parent's ``__main__``: ("name", mod) or ("path", file)."""
    main = sys.modules.get("__main__")
    if main is None:
        return None
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None) if spec is not None else None
    if name:
        if name == "__main__" or name.endswith(".__main__"):
            return None
        return ("name", name)
    path = getattr(main, "__file__", None)
    if not path or sys.flags.interactive:
        return None
    if os.name == "posix" and not os.path.isabs(path) and ORIGINAL_DIR is not None:
        path = os.path.join(ORIGINAL_DIR, path)
    if not os.path.exists(path):
        return None
    return ("path", os.path.normpath(path))


def collect(name: str, start_method: str, authkey: bytes) -> dict[str, Any]:
    """Everything a child applies before unpickling its process object."""
    logger = log.current_logger()
    data: dict[str, Any] = {
        "name": name,
        "sys_path": list(sys.path),
        "sys_argv": list(sys.argv),
        "cwd": os.getcwd() if os.path.exists(os.getcwd()) else None,
        "orig_dir": ORIGINAL_DIR,
        "authkey": bytes(authkey),
        "start_method": start_method,
        "main": main_module_spec(),
        "alias": _alias_installed(),
        "log_level": logger.getEffectiveLevel() if logger is not None else None,
        "log_to_stderr": log.stderr_logging_enabled(),
    }
    return data


def _alias_installed() -> bool:
    mp = sys.modules.get("multiprocessing")
    return mp is not None and mp is sys.modules.get("mproc")


def apply(data: dict[str, Any]) -> None:
    """Make this fresh interpreter look like the parent (sys.path, cwd, main...)."""
    if data.get("alias"):
        from .. import _alias

        _alias.install()
    sys.path[:] = data["sys_path"]
    if data.get("sys_argv") is not None:
        sys.argv[:] = data["sys_argv"]
    if data.get("cwd"):
        try:
            os.chdir(data["cwd"])
        except OSError:
            pass
    if data.get("log_to_stderr"):
        log.log_to_stderr()
    if data.get("log_level") is not None:
        log.get_logger().setLevel(data["log_level"])
    STATE.start_method_in_child = data.get("start_method")
    main = data.get("main")
    if main is not None:
        import_main(*main)


def _not_importable_main(path: str) -> bool:
    """A ``<stdin>``-like pseudo path, or IPython's launcher script (``ipython``),
    which has no ``__main__`` guard: running it again would start another IPython."""
    base = os.path.basename(path)
    return base.startswith("<") or os.path.splitext(base)[0] == "ipython"


def import_main(kind: str, target: str) -> None:
    """Import the parent's main module as ``__mp_main__`` (and ``__main__``)."""
    current = sys.modules.get("__mp_main__")
    if current is not None and getattr(current, "__mproc_main_source__", None) == target:
        sys.modules["__main__"] = current
        return
    if kind == "path" and _not_importable_main(target):
        return
    module = types.ModuleType("__mp_main__")
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module
    STATE.bootstrapping = True
    try:
        if kind == "name":
            namespace = runpy.run_module(target, run_name="__mp_main__", alter_sys=True)
        else:
            namespace = runpy.run_path(target, run_name="__mp_main__")
    finally:
        STATE.bootstrapping = False
    module.__dict__.update(namespace)
    module.__mproc_main_source__ = target  # type: ignore[attr-defined]
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module
