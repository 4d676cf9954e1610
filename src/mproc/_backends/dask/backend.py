"""The dask backend: a pool's tasks, in batches, on a Dask cluster.

Data flow::

    front end: submit([Task, ...])
        -> pending (per function: items waiting)
    dispatcher thread ("mproc-dask-dispatch"), at most one batch per cluster thread out:
        take consecutive tasks of one function, sized by Sizer (about 0.2 s of work;
        a single-task probe first), claimed (an Executor's cancel wins before this)
        encode: pickle; large buffers scattered once -> futures
        client.submit(remote.run_batch, token, blob, *futures, key="mproc-<token>-<n>")
                           |
               Dask scheduler (AtMostOnce plugin: a worker death fails, never re-runs)
                           |
               Dask worker thread: remote.run_batch -> answers, seconds, address
                           |
    collector thread ("mproc-dask-results"): distributed.as_completed(with_results=True)
        finished: unpickle each answer -> task.job._deliver(...); Sizer learns the time
        KilledWorker: WorkerLostError for the batch's tasks, naming the worker
        the future is dropped at once, so no finished result stays on a worker

``close()`` lets the work finish, then tears down; ``terminate()`` fails what is
left, cancels the batches on the cluster and tells the workers to stop the running
ones (between items; timed tasks' sandbox processes are killed), and returns at
once: the teardown (plugins, scattered data, the client, a LocalCluster the pool
started) runs in a thread that ``join()`` waits for.
"""

from __future__ import annotations

import collections
import itertools
import pickle
import sys
import threading
import time
import uuid

from ...errors import (
    PoolTerminatedError,
    RemoteTraceback,
    ResultUnpicklingError,
    StartupError,
    WorkerLostError,
)
from ..base import Backend, deliver_safely, describe_exception, remote_exception
from . import batches, cluster, remote
from .batches import Scatterer, Sizer, encode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..base import Task

__all__ = ["DaskBackend"]

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"


class _Batch:
    __slots__ = ("tasks", "fid", "items", "future", "dropped", "probe")

    def __init__(self, tasks: list[Task], fid: int, items: int) -> None:
        self.tasks = tasks
        self.fid = fid
        self.items = items
        self.future: Any = None
        self.dropped: set[int] = set()  # id() of jobs cancelled while it ran
        self.probe = False  # the first batch of its function: the Sizer times it


class DaskBackend(Backend):
    """Tasks run on a Dask cluster (``Pool(backend="dask", cluster=...)``)."""

    kind = "dask"
    sizes_itself = True  # processes=None: the cluster's worker threads
    no_memory_limit = ("Dask workers have their own memory limit, for the whole worker "
                       "(LocalCluster(memory_limit=...) or `dask worker --memory-limit`)")

    def __init__(self, size: int, initializer: Any, initargs: Any,
                 maxtasksperchild: int | None, context: Any, *, reducers: Any = None,
                 cluster: Any = None) -> None:
        if maxtasksperchild is not None:
            raise ValueError(
                "maxtasksperchild is not supported by the dask backend: Dask's workers "
                "are long-lived processes that other work shares, so a pool cannot "
                "recycle them; leave it None, or use the local backend (the default)")
        # reducers: a subclass's pickling (joblib's memmaps) means nothing on a cluster
        super().__init__(size, initializer, initargs, maxtasksperchild, context)
        self._cluster = cluster
        self.token = uuid.uuid4().hex[:16]
        self._cond = threading.Condition()
        self._pending: collections.deque[Task] = collections.deque()
        self._pending_items: collections.Counter[int] = collections.Counter()
        self._inflight: dict[str, _Batch] = {}
        self._keys = itertools.count()
        self._state = RUN
        self._sizer = Sizer()
        self._deliver_lock = threading.RLock()
        self._stopped = threading.Event()
        self._teardown_started = False
        self._connection: cluster.Connection | None = None
        self._plugin: str | None = None
        self._threads: list[threading.Thread] = []
        self._teardown_thread: threading.Thread | None = None
        self._was_busy = False  # batches were out when terminate() came

    # -- the Backend API ----------------------------------------------------------

    def start(self) -> None:
        self._connection = connection = cluster.connect(self._cluster, self.size)
        try:
            self._prepare(connection)
        except BaseException:
            connection.close()
            raise
        distributed = cluster.import_distributed()
        self._completed = distributed.as_completed(loop=connection.client.loop,
                                                   with_results=True, raise_errors=False)
        self._scatterer = Scatterer(connection.client)
        for target, name in ((self._dispatch_loop, "mproc-dask-dispatch"),
                             (self._collect_loop, "mproc-dask-results")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def _prepare(self, connection: cluster.Connection) -> None:
        client = connection.client
        if not self.size:
            self.size = cluster.total_threads(connection, cluster.connect_timeout())
        try:
            client.get_versions(check=True, packages=["mproc"])
        except ValueError as exc:
            raise ValueError(
                f"the Dask cluster at {connection.address} runs other package versions "
                f"than this process; its workers need the same code and versions "
                f"(install this pymproc there too):\n{exc}") from exc
        try:
            from .plugins import AtMostOnce

            client.register_plugin(AtMostOnce())
        except Exception as exc:
            import warnings

            warnings.warn(
                f"the Dask scheduler at {connection.address} did not accept mproc's "
                f"at-most-once plugin ({describe_exception(exc)}); a task whose worker "
                f"dies may be re-run by Dask before it fails", RuntimeWarning, stacklevel=4)
        if self.initializer is not None:
            from .plugins import PoolInitializer

            blob = batches.dumps_by_value((self.initializer, self.initargs))
            name = f"mproc-init-{self.token}"
            try:
                client.register_plugin(PoolInitializer(self.token, blob), name=name)
            except Exception as exc:
                error = StartupError(
                    f"the pool's initializer failed on the Dask cluster at "
                    f"{connection.address}: {describe_exception(exc)}")
                raise error from exc
            self._plugin = name

    @property
    def workers(self) -> list[Any]:
        """The addresses of the cluster's workers (the stdlib's ``_pool``)."""
        if self._connection is None or self._stopped.is_set():
            return []
        try:
            return list(self._connection.client.scheduler_info().get("workers", {}))
        except Exception:
            return []

    def repopulate(self) -> None:
        """Nothing to do: the cluster (a nanny) replaces its workers."""

    def submit(self, tasks: list[Task]) -> None:
        with self._cond:
            accept = self._state is RUN
            if accept:
                for task in tasks:
                    self._pending_items[id(task.func)] += task.count
                self._pending.extend(tasks)
                self._cond.notify_all()
        if not accept:
            for task in tasks:
                self._deliver(task, False, PoolTerminatedError(
                    f"{task.describe()} did not run: the pool was terminated"))

    def close(self) -> None:
        with self._cond:
            if self._state is RUN:
                self._state = CLOSE
                self._cond.notify_all()

    def terminate(self) -> None:
        with self._cond:
            if self._state is TERMINATE:
                return
            self._state = TERMINATE
            failed = list(self._pending)
            self._pending.clear()
            self._pending_items.clear()
            futures = []
            for batch in self._inflight.values():
                failed.extend(t for t in batch.tasks if id(t.job) not in batch.dropped)
                futures.append(batch.future)
            self._was_busy = bool(futures)
            self._inflight.clear()
            self._cond.notify_all()
        connection = self._connection
        if connection is not None and not self._stopped.is_set():
            try:
                if futures:
                    connection.client.cancel(futures, force=True)
                connection.client.run(remote.cancel_pool_soon, self.token, wait=False)
            except Exception:
                pass
        for task in failed:
            self._deliver(task, False, PoolTerminatedError(
                f"{task.describe()} did not finish: the pool was terminated"))
        self._begin_teardown(inline=not threading.main_thread().is_alive())

    def join(self, timeout: float | None = None) -> bool:
        if threading.current_thread() in self._threads:
            raise RuntimeError("a pool cannot be joined from one of its own threads")
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._stopped.wait(timeout):
            return False
        thread = self._teardown_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return True

    def cancel(self, job: Any) -> bool:
        futures = []
        with self._cond:
            waiting = [task for task in self._pending if task.job is job]
            if waiting:
                self._pending = collections.deque(t for t in self._pending if t.job is not job)
                for task in waiting:
                    self._pending_items[id(task.func)] -= task.count
            running = False
            for key, batch in list(self._inflight.items()):
                if any(task.job is job for task in batch.tasks):
                    running = True
                    batch.dropped.add(id(job))
                    if all(id(task.job) in batch.dropped for task in batch.tasks):
                        del self._inflight[key]
                        futures.append(batch.future)
            self._cond.notify_all()
        if futures and self._connection is not None:
            try:
                self._connection.client.cancel(futures, force=True)
            except Exception:
                pass
        return bool(waiting or running)

    # -- dispatching ----------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                batch = None
                while batch is None:
                    if self._state is TERMINATE:
                        return
                    if not self._pending:
                        if self._state is CLOSE and not self._inflight:
                            break
                        self._cond.wait()
                        continue
                    if len(self._inflight) >= self.size:
                        self._cond.wait()
                        continue
                    fid = id(self._pending[0].func)
                    wait = self._sizer.waiting_for_probe(fid, self._pending_items[fid],
                                                         self.size)
                    if wait > 0 and self._inflight:
                        self._cond.wait(wait)
                        continue
                    batch = self._take(fid)
                if batch is None:  # closed and done
                    self._begin_teardown(inline=False)
                    return
            if batch.tasks:
                self._send(batch)

    def _take(self, fid: int) -> _Batch:
        """Pop the next batch of ``fid`` from the pending tasks (lock held)."""
        sizer, pending = self._sizer, self._pending
        probe = sizer.estimate(fid) is None
        free = self.size - len(self._inflight)
        limit = 1 if probe else sizer.batch_items(fid, self._pending_items[fid], self.size, free)
        timed = pending[0].timeout is not None
        tasks: list[Task] = []
        items = 0
        while pending and items < limit:
            task = pending[0]
            if id(task.func) != fid or (task.timeout is not None) != timed:
                break
            pending.popleft()
            count = task.count
            self._pending_items[fid] -= count
            claim = getattr(task.job, "_claim", None)
            if claim is not None and not claim(task.index):
                continue  # cancelled while it waited
            tasks.append(task)
            items += count
        if not self._pending_items[fid]:
            del self._pending_items[fid]
        batch = _Batch(tasks, fid, items)
        batch.probe = probe and bool(tasks)
        return batch

    def _send(self, batch: _Batch) -> None:
        assert self._connection is not None
        try:
            blob, scattered = encode(batch.tasks, self._scatterer)
        except Exception:
            blob, scattered = self._encode_each(batch)
            if not batch.tasks:
                self._batch_gone()
                return
        if batch.probe:  # timed from here: scattering its arguments is not its work
            with self._cond:
                self._sizer.probe(batch.fid, batch.items)
        key = remote.batch_key(self.token, next(self._keys),
                               min(task.policy.retries for task in batch.tasks))
        try:
            future = self._connection.client.submit(remote.run_batch, self.token, blob,
                                                    *scattered, key=key, pure=False)
        except Exception as exc:
            for task in batch.tasks:
                self._deliver(task, False, _unsendable(task, exc))
            self._batch_gone()
            return
        batch.future = future
        with self._cond:
            terminated = self._state is TERMINATE
            if not terminated:
                self._inflight[key] = batch
                self._completed.add(future)
                self._cond.notify_all()
        if terminated:  # terminate() ran while it was being sent: it saw neither list
            future.cancel()
            for task in batch.tasks:
                self._deliver(task, False, PoolTerminatedError(
                    f"{task.describe()} did not finish: the pool was terminated"))

    def _encode_each(self, batch: _Batch) -> tuple[bytes, list[Any]]:
        """A batch did not pickle: fail the tasks that do not, send the others."""
        good = []
        for task in batch.tasks:
            try:
                encode([task], self._scatterer)
            except Exception as exc:
                self._deliver(task, False, _unsendable(task, exc))
            else:
                good.append(task)
        batch.tasks = good
        batch.items = sum(task.count for task in good)
        return encode(good, self._scatterer) if good else (b"", [])

    def _batch_gone(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- collecting -------------------------------------------------------------------

    def _collect_loop(self) -> None:
        completed = self._completed
        while True:
            with self._cond:
                while not self._inflight:
                    if self._state is TERMINATE or self._stopped.is_set() or (
                            self._state is CLOSE and not self._pending
                            and self._teardown_started):
                        return
                    self._cond.wait(0.5)
            for future, result in completed:
                self._finished(future, result)
                del future, result

    def _finished(self, future: Any, result: Any) -> None:
        status = future.status
        with self._cond:
            batch = self._inflight.pop(future.key, None)
            if batch is not None and status == "finished":
                self._sizer.learn(batch.fid, sum(result[1]), batch.items)
            self._cond.notify_all()
        if batch is None:  # terminated or cancelled: answered already
            return
        if status == "finished":
            answers, _seconds, address = result
            for task, answer in zip(batch.tasks, answers, strict=True):
                if id(task.job) not in batch.dropped and answer[0] != remote.SKIPPED:
                    ok, value = _decode(task, answer, address)
                    self._deliver(task, ok, value)
            return
        if status == "error":
            exc = result[1] if isinstance(result, tuple) else result
            for task in batch.tasks:
                if id(task.job) not in batch.dropped:
                    self._deliver(task, False, _batch_error(task, exc))
            return
        for task in batch.tasks:  # cancelled on the cluster by someone else
            if id(task.job) not in batch.dropped:
                self._deliver(task, False, WorkerLostError(
                    f"{task.describe()} was cancelled on the Dask cluster before it "
                    f"finished (status {status!r})"))

    # -- answers and teardown ------------------------------------------------------------

    def _deliver(self, task: Task, ok: bool, value: Any) -> None:
        with self._deliver_lock:  # one answer at a time, as the stdlib's result thread
            deliver_safely(task, ok, value)

    def _begin_teardown(self, inline: bool) -> None:
        with self._cond:
            if self._teardown_started:
                return
            self._teardown_started = True
            self._cond.notify_all()
        if inline:
            self._teardown()
        else:
            self._teardown_thread = threading.Thread(
                target=self._teardown, name="mproc-dask-teardown", daemon=False)
            self._teardown_thread.start()

    def _restart_stuck_workers(self, client: Any) -> None:
        """A batch still running a second after terminate() is blocked in a call that
        cannot be interrupted (``time.sleep(300)``): restart, through its nanny, each
        worker where it runs alone, so the work really stops and nobody else's is
        lost. A worker that also runs other tasks is left alone (the call ends by
        itself; its answer is dropped)."""
        if not self._was_busy:
            return
        try:
            time.sleep(1.0)
            stuck = [address for address, alone in
                     client.run(remote.stuck_pool, self.token, on_error="return").items()
                     if alone is True]
            if stuck:
                client.restart_workers(stuck, timeout=30)
        except Exception:
            pass

    def _teardown(self) -> None:
        connection = self._connection
        try:
            if connection is not None:
                client = connection.client
                if self._state is TERMINATE:
                    self._restart_stuck_workers(client)
                try:
                    if self._plugin is not None:
                        client.unregister_worker_plugin(self._plugin)
                    else:
                        client.run(remote.forget_pool, self.token)
                except Exception:
                    pass
                scatterer = getattr(self, "_scatterer", None)
                if scatterer is not None:
                    scatterer.clear()
                connection.close()
        finally:
            self._stopped.set()
            with self._cond:
                self._cond.notify_all()



def _unsendable(task: Task, exc: BaseException) -> BaseException:
    """The pickling error itself (as a local pool raises it), with a note that says
    what to do (Python 3.11+; 3.10 has no notes)."""
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(
            f"{task.describe()} cannot be sent to the Dask cluster: its function and "
            f"arguments must pickle. Objects that work on one machine only (an mproc "
            f"Lock, Queue, Event or shared memory) cannot go to a Dask worker: use a "
            f"manager proxy over TCP (mproc.managers) or Dask's own primitives")
    return exc


def _decode(task: Task, answer: tuple[Any, ...], address: str) -> tuple[bool, Any]:
    if answer[0] == remote.OK:
        try:
            return True, pickle.loads(answer[1])
        except BaseException as exc:
            error = ResultUnpicklingError(describe_exception(exc), f"the result of "
                                          f"{task.describe()}")
            error.__cause__ = exc
            return False, error
    _kind, text, blob = answer
    return False, remote_exception(lambda: pickle.loads(blob), text,
                                   f"raised on Dask worker {address}", task.describe())


def _reruns(task: Task) -> str:
    retries = task.policy.retries
    if retries:
        return (f"It ran {retries + 1} times (retries={retries}), each time on a worker "
                f"that died")
    return ("mproc turns Dask's re-runs off for its tasks, so it did not run twice; "
            "run it again if it is safe to, or pass retries=")


def _batch_error(task: Task, exc: BaseException) -> BaseException:
    """What a task of a batch that failed as a whole raises."""
    if type(exc).__name__ == "KilledWorker":
        worker = getattr(getattr(exc, "last_worker", None), "address", "?")
        error = WorkerLostError(
            f"{task.describe()} was lost: the Dask worker {worker} running it died "
            f"(killed, crashed or out of memory); the pool goes on with the other "
            f"workers. {_reruns(task)}")
        error.worker = worker  # type: ignore[attr-defined]
        error.task = task.describe()  # type: ignore[attr-defined]
        error.__cause__ = exc
        return error
    return exc
