"""Logging, finalizers, after-fork hooks and temp dirs (stdlib ``multiprocessing.util``)."""

from ._context import cleanup_for_tests as _cleanup_tests
from ._launch.base import flush_std_streams as _flush_std_streams
from ._process import exit_function as _exit_function
from ._runtime.fds import close_all_fds_except
from ._runtime.finalize import Finalize, is_exiting
from ._runtime.finalize import finalizer_registry as _finalizer_registry
from ._runtime.finalize import run_finalizers as _run_finalizers
from ._runtime.log import (
    DEBUG,
    DEFAULT_LOGGING_FORMAT,
    INFO,
    LOGGER_NAME,
    NOTSET,
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
from ._runtime.state import afterfork_registry as _afterfork_registry
from ._runtime.state import run_after_forkers as _run_after_forkers
from ._runtime.tempdir import get_temp_dir
from ._wire.listener import is_abstract_socket_namespace

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
