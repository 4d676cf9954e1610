"""The fork start method's launch class, under the stdlib's module name."""

from ._launch.fork import ForkLaunch as Popen

__all__ = ["Popen"]
