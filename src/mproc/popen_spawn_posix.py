"""The spawn start method's launch class, under the stdlib's module name."""

from . import popen_fork, spawn, util  # the stdlib's package has these after this import
from ._launch.spawn import SpawnLaunch as Popen

__all__ = ["Popen"]
