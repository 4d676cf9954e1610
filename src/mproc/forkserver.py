"""The fork server (stdlib ``multiprocessing.forkserver``)."""

from __future__ import annotations

from . import (  # the stdlib's package has these after this import
    connection,
    resource_tracker,
    spawn,
    util,
)
from ._launch.forkserver import forkserver as _forkserver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final
del TYPE_CHECKING  # not a public name of this module

ensure_running: Final = _forkserver.ensure_running
get_inherited_fds: Final = _forkserver.get_inherited_fds
connect_to_new_process: Final = _forkserver.connect_to_new_process
set_forkserver_preload: Final = _forkserver.set_forkserver_preload

__all__ = ["ensure_running", "get_inherited_fds", "connect_to_new_process", "set_forkserver_preload"]
