"""Connections, Pipe, Listener/Client and wait() (stdlib ``multiprocessing.connection``)."""

from ._wire.listener import Client, Listener
from ._wire.pipes import Pipe
from ._wire.waiting import wait

__all__ = ["Client", "Listener", "Pipe", "wait"]
