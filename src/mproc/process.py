"""Process objects (stdlib ``multiprocessing.process``)."""

from ._launch.prep import ORIGINAL_DIR
from ._process import (
    AuthenticationString,
    BaseProcess,
    active_children,
    current_process,
    parent_process,
)
from ._process import ParentProcess as _ParentProcess
from ._process import cleanup_children as _cleanup
from ._runtime.state import STATE as _STATE

_dangling = _STATE.dangling
_children = _STATE.children

__all__ = [
    "BaseProcess",
    "current_process",
    "active_children",
    "parent_process",
    "AuthenticationString",
    "ORIGINAL_DIR",
]
