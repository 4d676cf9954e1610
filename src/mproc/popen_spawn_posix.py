"""The spawn start method's launch class, under the stdlib's module name."""

from ._launch.spawn import SpawnLaunch as Popen

__all__ = ["Popen"]
