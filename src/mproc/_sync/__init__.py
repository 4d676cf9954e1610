"""Synchronization primitives shared between processes.

Layers, bottom up:

* ``semlock``   - the one binding to the C semaphore (``_multiprocessing.SemLock``):
  naming, creating, reopening by name in a child, unlinking, resource tracking.
* ``cells``     - small shared int64 counters in memfd-backed pages, inherited by
  fork children and handed to spawn/forkserver children as file descriptors.
* ``owner``     - who holds a lock (a per-process token in a cell), whether that
  process is still alive, and the guard that lets exactly one waiter recover a lock
  whose holder died.
* ``locks``     - Lock, RLock, Semaphore, BoundedSemaphore.
* ``condition`` - Condition and Event; ``barrier`` - Barrier.

``mproc.synchronize`` is the public face.
"""
