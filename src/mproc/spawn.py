"""Spawn-related helpers (stdlib ``multiprocessing.spawn``)."""

from __future__ import annotations

from . import util  # the stdlib's package has these after this import
from ._launch.prep import collect as _collect
from ._launch.prep import import_main as _import_main
from ._launch.spawn import get_executable, set_executable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
del TYPE_CHECKING  # not a public name of this module

WINEXE = False
WINSERVICE = False


def freeze_support() -> None:
    """Nothing to do outside frozen Windows executables; kept for compatibility."""


def get_preparation_data(name: str) -> dict[str, Any]:
    """The data a spawned child applies before unpickling its process object."""
    from ._process import current_process

    return _collect(name, "spawn", current_process().authkey)


def import_main_path(main_path: str) -> None:
    """Import the script at ``main_path`` as ``__mp_main__``."""
    _import_main("path", main_path)


__all__ = [
    "freeze_support",
    "set_executable",
    "get_executable",
    "get_preparation_data",
    "import_main_path",
]
