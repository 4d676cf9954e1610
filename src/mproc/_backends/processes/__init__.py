"""The process backend: tasks run in worker processes, watched by one supervisor.

``backend``     ProcessBackend: starting workers, submitting and dispatching tasks,
                cancelling one (data-flow picture at its top)
``supervisor``  the thread that watches every worker: answers, deaths, deadlines
``envelopes``   tasks encoded for a worker, answers decoded from it
``workers``     the parent's handle on one worker; killing a task's process tree;
                the errors a death produces
``worker``      the loop a worker process runs
``channel``     non-blocking framed I/O on the parent's ends of the pipes
``codec``       the wire format; pickling with shared-memory out-of-band buffers
``buffers``     shared-memory segments for large buffers
``remote``      exceptions and tracebacks crossing from a worker
"""

from .backend import ProcessBackend

__all__ = ["ProcessBackend"]
