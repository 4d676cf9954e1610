"""Start methods: strategies behind one interface (see ``base.py``), by name.

``METHODS`` maps a start method's name to its launch class; the default is the
running interpreter's own default (fork on Linux up to 3.13, forkserver from 3.14).
"""

from __future__ import annotations

import sys

from .base import Launch
from .fork import ForkLaunch
from .forkserver import ForkserverLaunch
from .spawn import SpawnLaunch

__all__ = ["METHODS", "DEFAULT_METHOD", "Launch"]

METHODS: dict[str, type[Launch]] = {
    "fork": ForkLaunch,
    "spawn": SpawnLaunch,
    "forkserver": ForkserverLaunch,
}

if sys.platform == "darwin" or sys.platform == "win32":
    DEFAULT_METHOD = "spawn"
elif sys.version_info >= (3, 14):
    DEFAULT_METHOD = "forkserver"
else:
    DEFAULT_METHOD = "fork"
