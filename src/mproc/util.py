"""Logging, finalizers, after-fork hooks and temp dirs (stdlib ``multiprocessing.util``)."""

from ._runtime.fds import close_all_fds_except
from ._runtime.finalize import Finalize, is_exiting
from ._runtime.log import (
    SUBDEBUG,
    SUBWARNING,
    debug,
    get_logger,
    info,
    log_to_stderr,
    sub_debug,
    sub_warning,
)
from ._runtime.state import (
    ForkAwareLocal,
    ForkAwareThreadLock,
    register_after_fork,
)
from ._runtime.tempdir import get_temp_dir

abstract_sockets_supported = True

__all__ = [
    "sub_debug",
    "debug",
    "info",
    "sub_warning",
    "get_logger",
    "log_to_stderr",
    "get_temp_dir",
    "register_after_fork",
    "is_exiting",
    "Finalize",
    "ForkAwareThreadLock",
    "ForkAwareLocal",
    "close_all_fds_except",
    "SUBDEBUG",
    "SUBWARNING",
]
