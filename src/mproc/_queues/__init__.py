"""Queues shared between processes: Queue, JoinableQueue, SimpleQueue.

How an item travels::

    put(obj)                                             get()
      | pickle here (errors raise in the caller)           ^ unpickle
      v                                                    |
    fits in a packet (<= 4 KiB)? ---- yes ----> main channel ---- one read ----+
      | no                              (packet pipe: atomic     ^            |
      v                                  writes and reads,       |            |
    store: region in the queue's memfd   no locks)               |            |
      (pwritev; big regions reused)  --> STORE packet -----------+            |
                                                                              |
    channel full: pace a few ms, then pending list -> feeder thread           |
    process exit / join_thread(): pending -> one batch in the store           |
      -> SPILL notice on main, or on the overflow channel if main is full ----+
         (taken only when main is empty; one item per get, rest re-posted)

Modules, bottom up: ``transport`` (packet pipes), ``store`` (the shared file and
its regions), ``codec`` (items <-> packets), ``feeding`` (one process's sender:
direct writes, feeder, exit spill), ``queue`` (the public classes and ``get``).

Why it survives process death: every packet is written and read whole by one
system call, and no lock is held across I/O, so a process killed at any point
leaves no torn message and no held lock; an item whose data was being written
when its writer died was simply never announced.
"""

from .queue import JoinableQueue, Queue
from .simple import SimpleQueue

__all__ = ["Queue", "JoinableQueue", "SimpleQueue"]
