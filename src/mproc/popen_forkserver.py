"""The forkserver start method's launch class, under the stdlib's module name."""

from ._launch.forkserver import ForkserverLaunch as Popen

__all__ = ["Popen"]
