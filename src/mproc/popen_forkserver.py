"""The forkserver start method's launch class, under the stdlib's module name."""

from . import (  # the stdlib's package has these after this import
    connection,
    forkserver,
    popen_fork,
    resource_tracker,
    spawn,
    util,
)
from ._launch.forkserver import ForkserverLaunch as Popen

__all__ = ["Popen"]
