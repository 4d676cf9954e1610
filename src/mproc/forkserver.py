"""The fork server (stdlib ``multiprocessing.forkserver``)."""

from . import (  # the stdlib's package has these after this import
    connection,
    resource_tracker,
    spawn,
    util,
)
from ._launch.forkserver import forkserver as _forkserver

ensure_running = _forkserver.ensure_running
get_inherited_fds = _forkserver.get_inherited_fds
connect_to_new_process = _forkserver.connect_to_new_process
set_forkserver_preload = _forkserver.set_forkserver_preload

__all__ = ["ensure_running", "get_inherited_fds", "connect_to_new_process", "set_forkserver_preload"]
