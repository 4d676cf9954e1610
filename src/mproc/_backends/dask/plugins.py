"""The two Dask plugins a pool registers: its initializer, and at-most-once.

``PoolInitializer`` (a worker plugin) runs the pool's initializer once in every
worker process of the cluster, replacements included (Dask gives every worker
that joins later the plugins registered so far), and its ``teardown`` drops what
the worker kept for the pool when the pool unregisters it.

``AtMostOnce`` (a scheduler plugin, one per scheduler) keeps Dask from running a
pool's task again when the worker that ran it dies. By default the scheduler puts
such a task back in the queue and gives up only after the fourth death
(``distributed.scheduler.allowed-failures``), so a task that crashes its worker
runs four times and one that merely lost its worker runs twice. mproc's contract is
that a lost task fails with WorkerLostError, so the plugin marks each mproc task,
as it starts, as already suspicious up to the scheduler's limit: the first death
errs it with ``KilledWorker`` (naming the worker), which the pool turns into
WorkerLostError. It touches only keys that start with ``mproc-``; every other task
of the cluster keeps Dask's retries, and the scheduler's setting is not changed.
A batch of a call with ``retries=N`` carries N in its key (``remote.batch_key``)
and is marked N short of the limit: it runs again after up to N deaths (at most the
scheduler's ``allowed-failures``, 3 by default).
"""

from __future__ import annotations

import pickle

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from . import remote
from .remote import KEY_PREFIX, key_retries

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PoolInitializer", "AtMostOnce", "KEY_PREFIX"]


class PoolInitializer(WorkerPlugin):
    """Runs ``initializer(*initargs)`` in each worker process (``blob`` pickles both)."""

    idempotent = False

    def __init__(self, token: str, blob: bytes) -> None:
        self.token = token
        self.blob = blob

    def setup(self, worker: Any) -> None:
        initializer, initargs = pickle.loads(self.blob)
        remote.register_pool(self.token, initializer, tuple(initargs))

    def teardown(self, worker: Any) -> None:
        remote.forget_pool(self.token)


class AtMostOnce(SchedulerPlugin):
    """Makes the first worker death of an mproc task fail it (see the module doc)."""

    name = "mproc-at-most-once"
    idempotent = True

    def __init__(self) -> None:
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish != "processing" or not isinstance(key, str) or not key.startswith(KEY_PREFIX):
            return
        scheduler = self.scheduler
        if scheduler is None:
            return
        state = scheduler.tasks.get(key)
        if state is not None:  # retries=N: N deaths more before KilledWorker
            allowed = scheduler.allowed_failures - key_retries(key)
            state.suspicious = max(state.suspicious, allowed)
