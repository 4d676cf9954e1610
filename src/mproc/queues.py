"""Process-shared queues (stdlib ``multiprocessing.queues``).

Beyond the stdlib: ``put()`` raises pickling errors in the caller; a process
never waits for readers when it exits, so joining a child before draining its
queue is safe; a process killed mid-put or mid-get leaves the queue usable; large
buffers travel through shared memory; ``qsize()`` works everywhere.
"""

from queue import Empty, Full

from . import connection, util  # the stdlib's package has these after this import
from ._queues.classic import _sentinel
from ._queues.queue import JoinableQueue, Queue
from ._queues.simple import SimpleQueue

__all__ = ["Queue", "SimpleQueue", "JoinableQueue"]
