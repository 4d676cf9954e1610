"""The dask backend: the Pool's tasks on a Dask distributed cluster.

``mproc.Pool(backend="dask", cluster=...)`` (or ``python -m mproc run --cluster
ADDRESS``) runs the Pool API on the workers of a Dask cluster, in batches sized to
amortize Dask's per-task cost, with large buffers scattered once, a lost task failed
(never silently re-run) and per-task timeouts that stop the work.

``backend``   DaskBackend: pending tasks -> batches -> Dask futures -> answers
``batches``   batch sizing (Sizer), pickling with scatter of large buffers
``cluster``   finding the cluster (address, Client, LocalCluster) and leaving it
``remote``    what runs on a Dask worker: run_batch, the timed tasks' sandbox
``plugins``   the initializer (worker plugin) and at-most-once (scheduler plugin)

``distributed`` is imported only when this backend is used.
"""

from .backend import DaskBackend

__all__ = ["DaskBackend"]
