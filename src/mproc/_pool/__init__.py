"""The Pool front end: the stdlib's Pool API over interchangeable backends.

``front``      the Pool / ThreadPool front end (stdlib API, validation, lifetime)
``results``    ApplyResult, MapResult, IMapIterator, IMapUnorderedIterator
``tasks``      chunking, and the bounded window that feeds lazy inputs
``progress``   progress=True (tqdm) or a callable
``cpus``       the CPUs this process may use (affinity, cgroup quota)

Where the tasks run is ``mproc._backends`` (processes, threads), behind the seam
``mproc._backends.base``.
"""
