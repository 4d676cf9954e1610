"""What runs on a Dask worker: one batch of a pool's tasks per Dask task.

The client sends a batch as one pickled blob (``batches.encode``) plus the objects
it scattered (Dask resolves those futures to values on the worker, and they come
in as ``scattered``); ``run_batch`` answers every task of the batch::

    Dask worker thread                              (only for batches with a timeout)
      run_batch(token, blob, *scattered)
        unpickle the tasks (persistent ids -> scattered objects)
        untimed: call each in this thread -----or----> the pool's sandbox: mproc worker
                 (stop between items once the             processes on this machine, which
                  pool was terminated)                    kill a call past its timeout
        -> [(OK, pickled value) | (ERROR, traceback text, pickled exception)
            | (SKIPPED,)], seconds per task

A Dask worker runs tasks in threads, which cannot be stopped; a task with a
``timeout`` therefore runs in a *sandbox*: mproc's process backend, loaded through
the seam (``base.load``), one per pool per Dask worker process, made on first use
and stopped when the pool ends (``forget_pool``). Its workers run the pool's
initializer too. Results and exceptions are pickled here, one task at a time, so a
result that does not pickle fails its own task (MaybeEncodingError), not the batch.
"""

from __future__ import annotations

import io
import pickle
import threading
import time

from ..._runtime.state import STATE
from ..._serialize import pickler
from ...errors import MaybeEncodingError
from ..base import APPLY, MAP, Task, format_remote, load

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from ..base import Backend

__all__ = ["run_batch", "register_pool", "cancel_pool", "forget_pool", "OK", "ERROR", "SKIPPED",
           "cancel_pool_soon", "stuck_pool",
           "KEY_PREFIX", "batch_key", "key_retries"]

OK, ERROR, SKIPPED = 0, 1, 2
KEY_PREFIX = "mproc-"  # the Dask keys of every pool's batches (plugins.AtMostOnce)
_RETRIES_MARK = ".r"  # a key ending ".r<N>": its batch may lose N workers and run again


def batch_key(token: str, number: int, retries: int) -> str:
    """The Dask key of a pool's batch; it carries the batch's ``retries=`` to the
    scheduler plugin, which knows nothing else of the pool."""
    key = f"{KEY_PREFIX}{token}-{number}"
    return f"{key}{_RETRIES_MARK}{retries}" if retries else key


def key_retries(key: str) -> int:
    """The ``retries=`` a batch key carries (0 when it carries none)."""
    _head, mark, count = key.rpartition(_RETRIES_MARK)
    return int(count) if mark and count.isdigit() else 0

_lock = threading.Lock()
_cancelled: set[str] = set()  # pools terminated: their batches stop between items
_initializers: dict[str, tuple[Callable[..., Any] | None, tuple[Any, ...]]] = {}
_sandboxes: dict[str, Backend] = {}
_running: dict[str, set[int]] = {}  # pool token -> idents of the threads running its batches


class _Unpickler(pickle.Unpickler):
    """Resolves the client's persistent ids to the objects it scattered."""

    def __init__(self, data: bytes, scattered: Sequence[Any]) -> None:
        super().__init__(io.BytesIO(data))
        self.scattered = scattered

    def persistent_load(self, pid: Any) -> Any:
        return self.scattered[pid]


# Results and exceptions go back as a local pool's do: functions by reference only (a
# lambda in a result is the stdlib's MaybeEncodingError), ``__main__`` objects by name.
_dumps = pickler.ReferencePickler.dumps


def _pack_value(value: Any) -> tuple[Any, ...]:
    try:
        return (OK, _dumps(value))
    except Exception as exc:
        return _pack_error(MaybeEncodingError(exc, value), traceback=False)


def _pack_error(exc: BaseException, traceback: bool = True) -> tuple[Any, ...]:
    text = format_remote(exc) if traceback else ""
    try:
        blob = _dumps(exc)
    except Exception as error:
        blob = _dumps(MaybeEncodingError(error, exc))
    return (ERROR, text, blob)


def _call(token: str, func: Callable[..., Any], mode: int, payload: Any) -> Any:
    if mode == APPLY:
        args, kwds = payload
        return func(*args, **kwds)
    values = []
    cancelled = _cancelled
    for item in payload:
        if token in cancelled:
            raise _Stopped
        values.append(func(item) if mode == MAP else func(*item))
    return values


class _Stopped(BaseException):
    """The pool was terminated while this task ran: its answer is not wanted (a
    BaseException, so that the task's own ``except Exception`` does not catch it)."""


def _address() -> str:
    try:
        import distributed

        return str(distributed.get_worker().address)
    except Exception:
        return "?"


def run_batch(token: str, blob: bytes, *scattered: Any) -> tuple[list[tuple[Any, ...]],
                                                                  list[float], str]:
    """Run one batch: every task's answer, how long each ran (s), this worker's address."""
    tasks = _Unpickler(blob, scattered).load()
    if any(spec[3] is not None for spec in tasks):
        return (*_run_sandboxed(token, tasks), _address())
    me = threading.get_ident()
    with _lock:
        _running.setdefault(token, set()).add(me)
    try:
        return _run_here(token, tasks)
    except _Stopped:  # raised into this thread by cancel_pool
        return [(SKIPPED,)] * len(tasks), [0.0] * len(tasks), _address()
    finally:
        while True:  # a stop raised into this thread may land here: leave regardless
            try:
                with _lock:
                    threads = _running.get(token)
                    if threads is not None:
                        threads.discard(me)
                        if not threads:
                            del _running[token]
                break
            except _Stopped:
                continue


def _run_here(token: str, tasks: list[Any]) -> tuple[list[tuple[Any, ...]], list[float],
                                                      str]:
    answers: list[tuple[Any, ...]] = []
    seconds: list[float] = []
    for func, mode, payload, _timeout, *_describe in tasks:
        if token in _cancelled:
            answers.append((SKIPPED,))
            seconds.append(0.0)
            continue
        started = time.perf_counter()
        try:
            answer = _pack_value(_call(token, func, mode, payload))
        except _Stopped:
            answer = (SKIPPED,)
        except BaseException as exc:
            answer = _pack_error(exc)
        seconds.append(time.perf_counter() - started)
        answers.append(answer)
    return answers, seconds, _address()


# -- the sandbox: timed tasks in mproc worker processes on this machine -------------------

class _Collector:
    """Waits for the sandbox's answers to one batch."""

    def __init__(self, count: int) -> None:
        self.cond = threading.Condition()
        self.answers: list[tuple[Any, ...] | None] = [None] * count
        self.seconds = [0.0] * count
        self.started = [time.perf_counter()] * count
        self.missing = count

    def done(self, position: int, ok: bool, value: Any) -> None:
        answer = _pack_value(value) if ok else _pack_error(value)
        with self.cond:
            if self.answers[position] is None:
                self.answers[position] = answer
                self.seconds[position] = time.perf_counter() - self.started[position]
                self.missing -= 1
                self.cond.notify_all()


class _Slot:
    """The job of one sandboxed task, named as the client names it."""

    __slots__ = ("collector", "position", "_kind", "_job")

    def __init__(self, collector: _Collector, position: int, kind: str, job: Any) -> None:
        self.collector, self.position = collector, position
        self._kind, self._job = kind, job

    def _deliver(self, index: int, ok: bool, value: Any, count: int) -> None:
        self.collector.done(self.position, ok, value)


def _sandbox(token: str) -> Backend:
    with _lock:
        backend = _sandboxes.get(token)
        if backend is None:
            import distributed

            size = max(1, distributed.get_worker().state.nthreads)
            initializer, initargs = _initializers.get(token, (None, ()))
            context = STATE.default_context.get_context("forkserver")
            backend = load("processes")(size, initializer, initargs, None, context)
            backend.start()
            _sandboxes[token] = backend
        return backend


def _run_sandboxed(token: str, specs: list[Any]) -> tuple[list[tuple[Any, ...]], list[float]]:
    backend = _sandbox(token)
    collector = _Collector(len(specs))
    tasks = []
    for position, (func, mode, payload, timeout, index, first, kind, job) in enumerate(specs):
        count = 1 if mode == APPLY else len(payload)
        slot = _Slot(collector, position, kind, job)
        tasks.append(Task(slot, index, func, mode, payload, count, first, timeout))
    backend.submit(tasks)
    del tasks
    with collector.cond:
        while collector.missing:
            if token in _cancelled:
                break
            collector.cond.wait(0.1)
        answers = [answer or (SKIPPED,) for answer in collector.answers]
    return answers, collector.seconds


# -- a pool's life on this worker (called through client.run and worker plugins) -----

def register_pool(token: str, initializer: Callable[..., Any] | None,
                  initargs: tuple[Any, ...]) -> None:
    """Remember the pool's initializer (for its sandbox) and run it in this process."""
    with _lock:
        _initializers[token] = (initializer, initargs)
    if initializer is not None:
        initializer(*initargs)


def cancel_pool(token: str) -> None:
    """The pool was terminated: running batches stop, its sandbox's workers die.

    A batch that runs Python code gets ``_Stopped`` raised in its thread at the next
    bytecode; one blocked in a C call (``time.sleep``) stops when the call returns,
    or when ``stuck_pool`` finds it and the client restarts the worker.
    """
    import ctypes

    with _lock:
        _cancelled.add(token)
        sandbox = _sandboxes.pop(token, None)
        threads = list(_running.get(token, ()))
        for ident in threads:  # under the lock: a thread leaves _running under it too
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                       ctypes.py_object(_Stopped))
    if sandbox is not None:
        sandbox.terminate()


def stuck_pool(token: str, dask_worker: Any = None) -> bool:
    """True if a batch of the terminated pool still runs here and nothing else does,
    so that restarting this worker stops it and harms no one (``client.run``)."""
    with _lock:
        if not _running.get(token):
            return False
    if dask_worker is None:
        return False
    mine = f"{KEY_PREFIX}{token}-"
    executing = getattr(dask_worker.state, "executing", ())
    return all(str(getattr(ts, "key", "")).startswith(mine) for ts in executing)


async def cancel_pool_soon(token: str) -> None:
    """``cancel_pool`` started from the worker's event loop, which it must not block
    (``client.run(..., wait=False)`` takes coroutine functions only)."""
    with _lock:
        _cancelled.add(token)  # running batches stop at their next item, from now
    threading.Thread(target=cancel_pool, args=(token,), name="mproc-dask-cancel",
                     daemon=True).start()


def forget_pool(token: str) -> None:
    """The pool has ended: drop what this worker keeps for it."""
    with _lock:
        sandbox = _sandboxes.pop(token, None)
        _initializers.pop(token, None)
    if sandbox is not None:
        sandbox.close()
        sandbox.join(5.0)
        sandbox.terminate()
