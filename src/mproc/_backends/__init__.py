"""Where tasks run: the seam and the backends behind it.

Two front ends (``_pool``: the stdlib's Pool API; ``_futures``: the Executor API)
drive one interface, ``base.Backend``, and never see what is behind it::

    _pool.front (Pool, ThreadPool)     _futures (ProcessPoolExecutor, ThreadPoolExecutor)
                  \\                    /
                   base: Task, Backend, load(name)
                  /                    \\
    processes/  worker processes,        threads  worker threads
                one supervisor thread

``base``        the seam: Task, the Backend interface, backends loaded by name
``processes/``  worker processes (see its package docstring)
``threads``     worker threads (ThreadPool, mproc.dummy.Pool, ThreadPoolExecutor)

Imports point down: the front ends import ``base`` (and load a backend by name);
a backend imports ``base`` and the layers below (_wire, _serialize, _runtime),
never a front end, and no backend imports another.
"""
