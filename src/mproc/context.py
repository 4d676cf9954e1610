"""Contexts and the per-start-method Process classes (stdlib ``multiprocessing.context``)."""

from ._context import _CONCRETE as _concrete_contexts
from ._context import (
    BaseContext,
    DefaultContext,
    ForkContext,
    ForkProcess,
    ForkServerContext,
    ForkServerProcess,
    Process,
    SpawnContext,
    SpawnProcess,
)
from ._serialize.spawning import assert_spawning
from ._serialize.spawning import set_spawning_launcher as set_spawning_popen
from ._serialize.spawning import spawning_launcher as get_spawning_popen
from .errors import AuthenticationError, BufferTooShort, ProcessError, TimeoutError

__all__ = [
    "BaseContext",
    "DefaultContext",
    "ForkContext",
    "ForkProcess",
    "ForkServerContext",
    "ForkServerProcess",
    "Process",
    "SpawnContext",
    "SpawnProcess",
    "AuthenticationError",
    "BufferTooShort",
    "ProcessError",
    "TimeoutError",
    "assert_spawning",
    "get_spawning_popen",
]
