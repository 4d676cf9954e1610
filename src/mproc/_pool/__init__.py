"""Pools: the stdlib's Pool API over interchangeable backends.

``front``      the Pool / ThreadPool front end (stdlib API, validation, lifetime)
``results``    ApplyResult, MapResult, IMapIterator, IMapUnorderedIterator
``tasks``      chunking, and the bounded window that feeds lazy inputs
``progress``   progress=True (tqdm) or a callable
``backend``    the seam: Task and the Backend interface, backends loaded by name
``processes``  worker processes: starting them, submitting and dispatching tasks
``supervisor`` the thread that watches every worker: answers, deaths, deadlines
``envelopes``  tasks encoded for a worker, answers decoded from it
``workers``    the parent's handle on one worker; killing a task's process tree;
               the errors a death produces
``worker``     the loop a worker process runs
``channel``    non-blocking framed I/O on the parent's ends of the pipes
``codec``      the wire format; pickling with shared-memory out-of-band buffers
``buffers``    shared-memory segments for large buffers
``remote``     exceptions and tracebacks crossing from a worker
``threads``    worker threads (ThreadPool, mproc.dummy.Pool)
``cpus``       the CPUs this process may use (affinity, cgroup quota)
"""
