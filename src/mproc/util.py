"""Logging, finalizers, after-fork hooks and temp dirs (stdlib ``multiprocessing.util``)."""

from __future__ import annotations

import os

from ._context import cleanup_for_tests as _cleanup_tests
from ._launch.base import flush_std_streams as _flush_std_streams
from ._process import exit_function as _exit_function
from ._runtime import log as _log
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any
del TYPE_CHECKING  # not a public name of this module

abstract_sockets_supported = True


def _args_from_interpreter_flags() -> list[str]:
    """The command-line flags that reproduce this interpreter's settings (the
    stdlib's private name; loky's resource tracker starts its helper with them)."""
    import subprocess

    return subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined, no-any-return]


def spawnv_passfds(path: str, args: list[str], passfds: Sequence[int]) -> int:
    """Start ``path`` with argv ``args``, passing exactly ``passfds`` (by number)
    besides stdin/stdout/stderr; return its pid, which the caller reaps. Used by
    loky to start its resource tracker."""
    actions = [(os.POSIX_SPAWN_DUP2, fd, fd) for fd in passfds]  # dup2 onto itself: inherited
    return os.posix_spawn(path, list(args), os.environ, file_actions=actions)


def __getattr__(name: str) -> Any:
    # The stdlib's module globals that libraries read (loky's spawn): live values.
    if name == "_logger":
        return _log.current_logger()
    if name == "_log_to_stderr":
        return _log.stderr_logging_enabled()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
