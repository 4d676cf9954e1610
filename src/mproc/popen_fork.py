"""The fork start method's launch class, under the stdlib's module name."""

from . import util  # the stdlib's package has these after this import
from ._launch.fork import ForkLaunch as Popen

__all__ = ["Popen"]
