"""The process backend: worker processes, one supervisor thread, nothing waits for ever.

Data flow::

    caller threads                        supervisor thread (one per pool)           worker i
    submit(tasks)                         poll(): every worker's result pipe and
      pickle args, function once            sentinel, the wake-up pipe, task pipes
        (failure: that task fails now)      that are full
      -> pending queue                    answers --decode--> task.deliver(...)
      -> dispatch: least-loaded worker    sentinel fired: drain its answers, fail the
         with room in its window; frames    task it was running (WorkerLostError),
         written non-blocking  --------->   requeue the ones it had not started,
                                            start a replacement
                                          deadline passed: kill_tree(worker),
                                            TaskTimeoutError
                                          room freed: dispatch more pending tasks

Each worker has its own pair of pipes, so the parent always knows which tasks a
worker holds (they are recorded before their frames are written) and in which order
it runs them. The window of tasks sent ahead to one worker adapts to task length:
two for slow tasks, up to 64 when tasks take microseconds, so that tiny tasks travel
in batches and a worker never waits for a round trip. A caller thread writes to a
worker directly when the supervisor sleeps (no thread hop between ``apply_async``
and the worker); while the supervisor is awake it leaves its frames for the
supervisor's next flush, so a burst of submissions costs one write per worker.

A Pool subclass's reducers (``front``, ``Pool._setup_queues``) pickle the functions
and arguments at submit time (forward) and the results in the workers (backward,
given to each worker when it starts); nothing else about the transport changes.

Workers that die before they are ready (a crashing initializer, an unguarded main
module under spawn) are counted; after a few in a row the pool is *broken*: every
waiting task and every later call fails with a StartupError that says why.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time

from ..._runtime import log
from ...errors import PoolTerminatedError, StartupError
from ..base import Backend, deliver_safely, delivery_failed
from . import codec
from .codec import Reducers
from .envelopes import Envelope, FunctionTable, decode, discard_segments, encode
from .remote import describe_exception
from .supervisor import (
    CLOSE,
    DONE,
    GIVE_UP,
    RUN,
    TERMINATE,
    TERMINATE_GRACE,
    WINDOW_MIN,
    Supervision,
)
from .workers import WorkerHandle, startup_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ..base import Task

__all__ = ["ProcessBackend"]

_NOTHING = object()


def _load(worker: WorkerHandle) -> int:
    return len(worker.outstanding)


def _is_fork(context: Any) -> bool:
    try:
        return bool(context.get_start_method() == "fork")
    except Exception:
        return False


class ProcessBackend(Supervision, Backend):
    """Tasks run in worker processes started from ``context``; ``Supervision`` is
    the half that runs in the supervisor thread."""

    kind = "processes"
    no_memory_limit = None  # the supervisor reads each busy worker's resident memory

    def __init__(self, size: int, initializer: Any, initargs: Any, maxtasksperchild: int | None,
                 context: Any, *, reducers: Any = None) -> None:
        super().__init__(size, initializer, initargs, maxtasksperchild, context,
                         reducers=reducers)
        forward, backward = reducers or (None, None)
        # A Pool subclass's pickling: forward here, backward in every worker.
        self._forward = Reducers(forward) if forward else None
        self._backward = Reducers(backward) if backward else None
        self._lock = threading.Lock()
        self._state = RUN
        self._workers: list[WorkerHandle] = []
        self._procs: list[Any] = []  # Pool._pool: a live list
        self._pending: collections.deque[Envelope] = collections.deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._woken = False
        self._awake = False  # the supervisor is between two polls
        self._dirty = True  # the poller must be rebuilt
        self._window = WINDOW_MIN
        self._service: float | None = None  # smoothed seconds per task
        self._functions = FunctionTable(self._forward)
        self._startup_failures = 0
        self._startup_limit = max(3, size + 2)
        self._kill_at: float | None = None
        self._give_up_at: float | None = None
        self._memory_due = 0.0  # when busy workers' memory is next read (memory_limit)
        self._thread: threading.Thread | None = None
        self._fork = _is_fork(context)

    # -- starting workers ---------------------------------------------------------

    def start(self) -> None:
        handles: list[WorkerHandle] = []
        try:
            for _ in range(self.size):
                handles.append(self._spawn(handles))
        except BaseException:
            for handle in handles:
                try:
                    handle.abort()
                except Exception:
                    pass
            self._state = DONE
            os.close(self._wake_r)
            os.close(self._wake_w)
            raise
        for handle in handles:
            self._adopt(handle)
        self._thread = threading.Thread(target=self._supervise, name="mproc-pool-supervisor",
                                        daemon=True)
        self._thread.start()

    def _spawn(self, starting: Sequence[WorkerHandle] = ()) -> WorkerHandle:
        close_fds: list[int] = []
        if self._fork:  # a forked worker closes its copies of the parent's pool fds
            close_fds = [self._wake_r, self._wake_w]
            for handle in [*self._workers, *starting]:
                close_fds.extend(handle.parent_fds())
        return WorkerHandle.spawn(self.context, 0, self.initializer, self.initargs,
                                  self.maxtasksperchild, close_fds, self._backward)

    def _adopt(self, handle: WorkerHandle) -> None:
        handle.activate()
        handle.last_done = time.monotonic()
        self._workers.append(handle)
        self._procs.append(handle.proc)
        self._dirty = True

    def _replenish(self, answers: list[Any]) -> None:
        """Start workers up to the pool's size, if there is work or the pool runs."""
        if self.broken is not None or self._state in (TERMINATE, DONE):
            return
        if self._state is CLOSE and not self._pending and not any(
                w.outstanding for w in self._workers):
            return
        while len(self._workers) < self.size:
            try:
                handle = self._spawn()
            except Exception as exc:
                log.debug("pool: could not start a worker: %r", exc)
                self._startup_failed(None, None, answers, reason=describe_exception(exc))
                return
            self._adopt(handle)

    # -- the Backend API -----------------------------------------------------------

    @property
    def workers(self) -> list[Any]:
        return self._procs

    def repopulate(self) -> None:
        answers: list[Any] = []
        with self._lock:
            self._replenish(answers)
            if self._dirty:  # new workers: the sleeping supervisor must watch them too
                self._wake()
        self._deliver_answers(answers)

    def submit(self, tasks: list[Task]) -> None:
        envelopes: list[Envelope] = []
        failed: list[tuple[Task, BaseException]] = []
        func: Any = _NOTHING
        fid = 0
        func_frame: list[bytes] = []
        eager = len(tasks) > 1 and len(self._workers)  # first tasks leave before the rest
        for task in tasks:
            try:
                if task.func is not func:
                    fid, func_frame = self._functions.lookup(task.func)
                    func = task.func
                envelopes.append(encode(task, fid, func_frame, self._forward))
            except Exception as exc:
                failed.append((task, exc))
                continue
            if eager:
                eager -= 1
                self._enqueue(envelopes, failed)
                envelopes = []
        self._enqueue(envelopes, failed)
        for task, error in failed:
            deliver_safely(task, False, error)

    def _enqueue(self, envelopes: list[Envelope],
                 failed: list[tuple[Task, BaseException]]) -> None:
        if not envelopes:
            return
        with self._lock:
            accept = self._state is RUN and self.broken is None
            if accept:
                self._pending.extend(envelopes)
                self._dispatch()
                # A sleeping supervisor must start reading the memory of the workers
                # (one submit is one call: its tasks share one policy).
                if envelopes[0].task.policy.memory_limit is not None and not self._awake:
                    self._wake()
        if not accept:
            for env in envelopes:
                discard_segments(env)
                failed.append((env.task, self._refusal(env.task)))

    def close(self) -> None:
        with self._lock:
            if self._state is RUN:
                self._state = CLOSE
                self._wake()

    def terminate(self) -> None:
        answers: list[tuple[Any, Any, int | None]] = []
        with self._lock:
            if self._state in (RUN, CLOSE):
                self._state = TERMINATE
                for env in self._pending:
                    discard_segments(env)
                    answers.append((env, self._refusal(env.task), None))
                self._pending.clear()
                for worker in self._workers:
                    for env in worker.outstanding:
                        discard_segments(env)
                        answers.append((env, self._refusal(env.task), worker.pid))
                    worker.outstanding.clear()
                    worker.terminate()
                self._kill_at = time.monotonic() + TERMINATE_GRACE
                self._wake()
        self._deliver_answers(answers)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(TERMINATE_GRACE + GIVE_UP + 1)
            if thread.is_alive():  # stuck in a callback: do its last duty ourselves
                log.warn("pool: the supervisor is blocked (in a callback?); killing workers")
                with self._lock:
                    for worker in self._workers:
                        worker.kill()

    def join(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is None:
            return True
        if thread is threading.current_thread():
            raise RuntimeError("a pool cannot be joined from one of its own callbacks")
        thread.join(timeout)
        return not thread.is_alive()

    def cancel(self, job: Any) -> bool:
        found = False
        with self._lock:
            for env in [env for env in self._pending if env.task.job is job]:
                self._pending.remove(env)
                discard_segments(env)
                found = True
            for worker in self._workers:
                for position, env in enumerate(worker.outstanding):
                    if env.task.job is not job or env.cancelled:
                        found = found or env.task.job is job
                        continue
                    env.cancelled = found = True
                    if position == 0:  # running now: stop it
                        self._stop_running(worker)
                    else:  # not started: the worker skips it (see Supervision._take)
                        self._send_cancel(worker, env)
        return found

    def _send_cancel(self, worker: WorkerHandle, env: Envelope) -> None:
        frame = [codec.frame_header(codec.TID_HEAD.size)
                 + codec.TID_HEAD.pack(codec.CANCEL, env.tid)]
        worker.bytes_out += len(frame[0])
        env.cancel_end = worker.bytes_out
        self._write(worker, frame)

    def _write(self, worker: WorkerHandle, parts: list[bytes]) -> None:
        """Write frames to a worker, or leave them for the supervisor's flush while it
        is awake (it flushes before it sleeps again); a full pipe wakes it."""
        writer = worker.writer
        if self._awake:
            writer.queue(parts)
        else:
            writer.send(parts)
            if writer.pending:
                self._dirty = True
                self._wake()

    # -- sending ---------------------------------------------------------------

    def _dispatch(self) -> None:
        """Send pending tasks to workers with room in their window (lock held)."""
        pending = self._pending
        if not pending:
            return
        workers = self._workers
        window = self._window
        if not any(len(w.outstanding) < window for w in workers):
            return
        if len(workers) > 1:
            workers = sorted(workers, key=_load)
        quota = self.maxtasksperchild
        now = time.monotonic()
        for worker in workers:
            outstanding = worker.outstanding
            room = window - len(outstanding)
            if quota is not None:
                room = min(room, quota - worker.sent)
            if room <= 0 or worker.exited or worker.quit_sent or worker.timed_out is not None:
                continue
            writer = worker.writer
            if writer.broken:
                continue
            functions = worker.functions
            parts: list[bytes] = []
            sent = 0
            offset = worker.bytes_out
            while sent < room and pending:
                env = pending.popleft()
                claim = getattr(env.task.job, "_claim", None)
                if claim is not None and not claim(env.task.index):
                    discard_segments(env)  # cancelled while it waited: never sent
                    continue
                if env.fid not in functions:
                    extra = worker.function_frames(env.fid, env.func_frame)
                    parts += extra
                    offset += sum(len(part) for part in extra)
                parts += env.parts
                offset += env.size
                env.end = offset
                env.sent_at = now
                outstanding.append(env)
                sent += 1
            worker.sent += sent
            worker.bytes_out = offset
            self._write(worker, parts)
            if not pending:
                return

    def _wake(self) -> None:
        if not self._woken and self._state is not DONE:
            self._woken = True
            try:
                os.write(self._wake_w, b"!")
            except OSError:
                pass

    def _refusal(self, task: Task) -> BaseException:
        if self.broken is not None:
            error = StartupError(*self.broken.args)
            error.__cause__ = self.broken.__cause__
            return error
        return PoolTerminatedError(
            f"{task.describe()} did not finish: the pool was terminated")

    def _startup_failed(self, worker: WorkerHandle | None, code: int | None, answers: list[Any],
                        reason: str | None = None) -> None:
        self._startup_failures += 1
        if self._startup_failures < self._startup_limit or self.broken is not None:
            return
        method = getattr(self.context, "get_start_method", lambda: None)()
        self.broken = error = startup_error(self._startup_failures, worker, code, reason, method)
        for env in self._pending:
            answers.append((env, self._refusal(env.task), None))
        self._pending.clear()
        for other in self._workers:
            for env in other.outstanding:
                answers.append((env, self._refusal(env.task), other.pid))
            other.outstanding.clear()
            other.kill()
        log.info("pool broken: %s", error)

    # -- answers (never under the lock) ------------------------------------------

    @staticmethod
    def _deliver_answers(answers: list[tuple[Any, Any, int | None]]) -> None:
        """Decode the answers and hand them to their results (never under the lock)."""
        for env, data, pid in answers:
            task = env.task
            if isinstance(data, BaseException):  # failed without being answered
                if env.names:
                    discard_segments(env)
                ok, value = False, data
            else:
                ok, value = decode(task, data, pid)
            try:
                task.job._deliver(task.index, ok, value, task.count)
            except Exception:
                delivery_failed(task)
