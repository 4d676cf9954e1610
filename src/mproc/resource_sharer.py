"""Passing fds to processes that are already running (stdlib ``multiprocessing.resource_sharer``)."""

from . import util  # the stdlib's package has these after this import
from ._serialize.fds import DupFd, stop
from ._serialize.fds import _sharer as _resource_sharer

__all__ = ["stop"]
