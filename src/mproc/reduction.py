"""Pickling for inter-process messages (stdlib ``multiprocessing.reduction``).

``ForkingPickler`` is mproc's pickler: plain pickle where it works, cloudpickle for
lambdas, closures and ``__main__`` objects.
"""

from ._serialize.fds import HAVE_SEND_HANDLE, DupFd, recv_handle, recvfds, send_handle, sendfds
from ._serialize.pickler import Pickler as ForkingPickler
from ._serialize.pickler import dump, register

ACKNOWLEDGE = False

__all__ = [
    "send_handle",
    "recv_handle",
    "ForkingPickler",
    "register",
    "dump",
    "DupFd",
    "sendfds",
    "recvfds",
]
