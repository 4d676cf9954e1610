"""The supervisor: the thread that watches a process pool's workers.

One thread per pool waits (``poll``) on everything that can happen at once::

    wake-up pipe          a caller changed the state (close, terminate, a full pipe)
    result pipe, worker i answers: READY, START of a timed item, OK, ERROR
    sentinel, worker i    the worker exited
    task pipe, worker i   writable again (only while frames wait to be written)
    timeout               a timed item's deadline, terminate's SIGKILL time, or the
                          next reading of busy workers' memory (every 5 ms)

and then, under the backend's lock, accounts for what happened: an answer removes
its task from the worker's FIFO; a dead worker fails the task it was running
(``WorkerLostError``; with ``retries=`` left, the task goes back to the front of the
queue instead, its attempts recorded) unless it had not even read it (its bytes are
still in the pipe), and its other tasks go back to the front of the queue; an
overrun deadline, or a worker whose resident memory passed its task's
``memory_limit``, kills the worker's whole tree (``TaskTimeoutError``,
``MemoryLimitError``). Then it starts replacements,
dispatches pending tasks into the room freed, and, when the pool is closing and
idle, tells the workers to quit. Answers are unpickled and delivered after the
lock is released, so a callback may submit more work.

The supervisor holds the backend, never the Pool object: a pool that is dropped
is collected, and its finalizer terminates the backend. A failure of the
supervisor itself fails every task and stops every worker (``_crash``).

This is the supervisor's half of ``ProcessBackend`` (a mixin, for module size);
the state it shares is declared below.
"""

from __future__ import annotations

import os
import select
import struct
import sys
import time

from ..._runtime import log
from ...errors import StartupError
from . import buffers, codec
from .envelopes import discard_segments
from .workers import exit_description, kill_tree, lost_error, memory_error, timeout_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    import collections
    import threading
    from typing import Any

    from ..base import Task
    from .envelopes import Envelope
    from .workers import WorkerHandle

__all__ = ["Supervision", "RUN", "CLOSE", "TERMINATE", "DONE"]

RUN, CLOSE, TERMINATE, DONE = "RUN", "CLOSE", "TERMINATE", "DONE"
TERMINATE_GRACE = 1.0  # seconds between SIGTERM and SIGKILL at terminate()
GIVE_UP = 5.0  # seconds after SIGKILL before an unkillable worker is abandoned
WINDOW_MIN, WINDOW_MAX = 2, 64
QUEUED_WORK = 0.002  # seconds of work to keep queued at each worker
# How often a worker running a task with a memory_limit has its resident memory read:
# page faults fill memory at about 0.5-4 GB/s, so a task overshoots by at most a few
# tens of MB before it is killed.
MEMORY_POLL = 0.005
_QUIT_FRAME = [codec.frame_header(1) + codec.QUIT]
_TID = struct.Struct("<Q")


class Supervision:
    """The supervisor thread's methods (mixed into ProcessBackend)."""

    if TYPE_CHECKING:  # state owned by ProcessBackend
        _lock: threading.Lock
        _state: str
        _workers: list[WorkerHandle]
        _procs: list[Any]
        _pending: collections.deque[Envelope]
        _wake_r: int
        _wake_w: int
        _woken: bool
        _awake: bool
        _dirty: bool
        _window: int
        _service: float | None
        _startup_failures: int
        _kill_at: float | None
        _give_up_at: float | None
        _memory_due: float
        broken: BaseException | None

        def _replenish(self, answers: list[Any]) -> None: ...
        def _dispatch(self) -> None: ...
        def _refusal(self, task: Task) -> BaseException: ...
        def _startup_failed(self, worker: WorkerHandle | None, code: int | None,
                            answers: list[Any], reason: str | None = None) -> None: ...
        @staticmethod
        def _deliver_answers(answers: list[tuple[Any, Any, int | None]]) -> None: ...

    def _supervise(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not leave anyone waiting
            import traceback

            sys.stderr.write("mproc pool supervisor failed; the pool is now broken:\n")
            traceback.print_exc()
            self._crash(exc)
        finally:
            with self._lock:
                self._state = DONE
                for worker in self._workers:
                    worker.close_channels()
                os.close(self._wake_r)
                os.close(self._wake_w)

    def _loop(self) -> None:
        poller: Any = None
        fd_map: dict[int, tuple[str, Any]] = {}
        while True:
            with self._lock:
                self._flush_writers()
                self._awake = False
                if self._dirty:
                    poller, fd_map = self._make_poller()
                timeout = self._poll_timeout(time.monotonic())
            events = poller.poll(timeout)
            self._awake = True  # callers may now leave their frames to our flush
            now = time.monotonic()
            arrived = []
            for fd, _mask in events:  # reading needs no lock: only this thread reads
                what, worker = fd_map.get(fd, ("", None))
                if what == "read":
                    arrived.append((worker, worker.reader.read()))
            answers: list[tuple[Any, Any, int | None]] = []
            with self._lock:
                for worker, frames in arrived:
                    self._take(worker, frames, answers, now)
                urgent = answers and not self._pending  # nothing to dispatch: answer first
                if urgent:
                    self._flush_writers()
                    self._awake = False  # callbacks may be slow: callers write themselves
            if urgent:  # a caller may be waiting for exactly this answer
                self._deliver_answers(answers)
                answers = []
            with self._lock:
                for fd, _mask in events:
                    what, worker = fd_map.get(fd, ("", None))
                    if what == "wake":
                        self._drain_wake()
                    elif what == "write":
                        worker.writer.flush()
                    elif what == "exit":
                        worker.exited = True
                for worker in [w for w in self._workers if w.exited]:
                    self._bury(worker, answers, now)
                self._check_deadlines(now)
                if now >= self._memory_due:
                    self._memory_due = now + MEMORY_POLL
                    self._check_memory()
                self._replenish(answers)
                self._dispatch()
                self._quit_idle()
                done = self._finished()
                # Callbacks may be slow: from here on callers write for themselves.
                self._flush_writers()
                self._awake = False
            self._deliver_answers(answers)
            # Keep nothing alive while we sleep: results belong to their callers.
            del answers, arrived, events
            if done:
                return

    def _flush_writers(self) -> None:
        """Write what callers queued while we were awake; watch pipes that are full."""
        for worker in self._workers:
            writer = worker.writer
            if writer.pending:
                writer.flush()
            if writer.pending != worker.watching_writes:
                self._dirty = True

    def _make_poller(self) -> tuple[Any, dict[int, tuple[str, Any]]]:
        poller = select.poll()
        fd_map: dict[int, tuple[str, Any]] = {self._wake_r: ("wake", None)}
        poller.register(self._wake_r, select.POLLIN)
        for worker in self._workers:
            if not worker.reader.eof:
                poller.register(worker.reader.fd, select.POLLIN)
                fd_map[worker.reader.fd] = ("read", worker)
            poller.register(worker.sentinel, select.POLLIN)
            fd_map[worker.sentinel] = ("exit", worker)
            worker.watching_writes = worker.writer.pending
            if worker.watching_writes:
                poller.register(worker.writer.fd, select.POLLOUT)
                fd_map[worker.writer.fd] = ("write", worker)
        self._dirty = False
        return poller, fd_map

    def _poll_timeout(self, now: float) -> int | None:
        deadlines = [w.outstanding[0].deadline for w in self._workers
                     if w.outstanding and w.outstanding[0].deadline is not None
                     and w.timed_out is None]
        if self._kill_at is not None:
            deadlines.append(self._kill_at)
        if self._give_up_at is not None:
            deadlines.append(self._give_up_at)
        if any(w.outstanding and w.outstanding[0].task.policy.memory_limit is not None
               for w in self._workers):
            deadlines.append(now + MEMORY_POLL)
        if not deadlines:
            return None
        return max(0, int((min(deadlines) - now) * 1000) + 1)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except OSError:
            pass
        self._woken = False

    def _read(self, worker: WorkerHandle, answers: list[Any], now: float) -> None:
        """Handle every complete frame the worker has written (lock held)."""
        self._take(worker, worker.reader.read(), answers, now)

    def _take(self, worker: WorkerHandle, frames: list[Any], answers: list[Any],
              now: float) -> None:
        """Account for the frames a worker sent (lock held)."""
        answered = 0
        busy_since = worker.last_done
        outstanding = worker.outstanding
        for frame in frames:
            kind = frame[:1]
            if kind == codec.OK or kind == codec.ERROR:
                tid = _TID.unpack_from(frame, 1)[0]
                if outstanding and outstanding[0].tid == tid:
                    env = outstanding.popleft()
                else:
                    env = self._pop_outstanding(worker, tid)
                    if env is None:
                        continue
                if answered == 0 and env.sent_at > busy_since:
                    busy_since = env.sent_at
                answered += 1
                if env.names:
                    discard_segments(env)
                if not env.cancelled:
                    answers.append((env, frame, worker.pid))
            elif kind == codec.SKIPPED:  # a cancelled task the worker did not start
                env = self._pop_outstanding(worker, codec.TID_HEAD.unpack_from(frame)[1])
                if env is not None:
                    answered += 1
                    discard_segments(env)
            elif kind == codec.START:
                _kind, tid, item = codec.START_HEAD.unpack_from(frame)
                if outstanding and outstanding[0].tid == tid:
                    env = outstanding[0]
                    env.item = item
                    env.deadline = now + env.task.timeout
            elif kind == codec.READY:
                worker.ready = True
                self._startup_failures = 0
            elif kind == codec.INIT_FAILED:
                worker.init_error = frame
        if answered:
            worker.last_done = now
            self._measure((now - busy_since) / answered)
            if outstanding and outstanding[0].cancelled:
                self._cancelled_next(worker)
        if worker.reader.eof:
            self._dirty = True

    @staticmethod
    def _pop_outstanding(worker: WorkerHandle, tid: int) -> Envelope | None:
        outstanding = worker.outstanding
        if outstanding and outstanding[0].tid == tid:
            return outstanding.popleft()
        for env in outstanding:  # never expected: answers come in order
            if env.tid == tid:
                outstanding.remove(env)
                return env
        return None

    def _measure(self, sample: float) -> None:
        service = self._service
        service = sample if service is None else service + (sample - service) * 0.2
        self._service = service
        window = WINDOW_MAX if service <= 0 else 1 + int(QUEUED_WORK / service)
        self._window = max(WINDOW_MIN, min(WINDOW_MAX, window))

    def _stop_running(self, worker: WorkerHandle) -> None:
        """Kill the worker (and its tree) to stop the task it runs (lock held)."""
        if worker.timed_out is None and worker.outstanding and not worker.exited:
            env = worker.timed_out = worker.outstanding[0]
            env.killed = kill_tree(worker.pid)

    def _cancelled_next(self, worker: WorkerHandle) -> None:
        """The worker's next task was cancelled after it was sent (lock held).

        If the worker has read the CANCEL frame, it skips the task or has run it
        already (it reads frames only between tasks): its answer is on the way. If
        not, it may have started the task before the frame arrived: stop it.
        """
        env = worker.outstanding[0]
        consumed = worker.bytes_out - worker.writer.unread()
        if not env.cancel_end or consumed < env.cancel_end:
            self._stop_running(worker)

    def _check_deadlines(self, now: float) -> None:
        for worker in self._workers:
            if worker.timed_out is None and worker.outstanding and not worker.exited:
                env = worker.outstanding[0]
                if env.deadline is not None and now >= env.deadline:
                    self._stop_running(worker)
        if self._kill_at is not None and now >= self._kill_at:
            self._kill_at = None
            self._give_up_at = now + GIVE_UP
            for worker in self._workers:
                worker.kill()
        if self._give_up_at is not None and now >= self._give_up_at:
            for worker in self._workers:
                log.warn("pool: worker pid %s did not die; abandoning it", worker.pid)
                self._remove(worker)

    def _quit_idle(self) -> None:
        """Closing and out of work: ask every worker to exit."""
        if self._state is not CLOSE or self._pending:
            return
        if any(w.outstanding for w in self._workers):
            return
        for worker in self._workers:
            if not worker.quit_sent:
                worker.quit_sent = True
                worker.writer.send(_QUIT_FRAME)
                if worker.writer.pending:
                    self._dirty = True

    def _finished(self) -> bool:
        return self._state in (CLOSE, TERMINATE) and not self._workers and not self._pending

    # -- deaths ---------------------------------------------------------------

    def _remove(self, worker: WorkerHandle) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        if worker.proc in self._procs:
            self._procs.remove(worker.proc)
        worker.close_channels()
        self._dirty = True

    def _bury(self, worker: WorkerHandle, answers: list[Any], now: float) -> None:
        """A worker's sentinel fired: account for every task it held (lock held)."""
        self._read(worker, answers, now)
        code = worker.reap()
        consumed = worker.bytes_out - worker.writer.unread()  # bytes the worker read
        self._remove(worker)
        if buffers.AVAILABLE:
            buffers.discard_from(worker.pid)
        held = list(worker.outstanding)
        worker.outstanding.clear()
        timed_out = worker.timed_out
        if timed_out is not None:  # killed on purpose: a timeout, a memory limit, a cancel
            if timed_out in held:
                held.remove(timed_out)
                if not timed_out.cancelled:
                    self._answer_stopped(timed_out, worker, code, answers)
            # If it answered just before the kill, the task it had started next was
            # killed by us, not by its own doing: it runs again elsewhere.
            self._requeue(held)
        elif held and worker.ready and held[0].end <= consumed:
            lost = held.pop(0)
            if not lost.cancelled and not self._retry(lost, worker, code):
                discard_segments(lost)
                answers.append((lost, lost_error(lost, worker, code), worker.pid))
            self._requeue(held)
        else:  # it never read its next task: died idle, or before it was ready
            self._requeue(held)
            if not worker.ready and self._state is not TERMINATE:
                self._startup_failed(worker, code, answers)

    def _answer_stopped(self, env: Envelope, worker: WorkerHandle, code: int | None,
                        answers: list[Any]) -> None:
        """``env``'s worker was killed for its memory or its timeout (lock held)."""
        if _over_memory(env):  # never retried: it would do it again
            discard_segments(env)
            answers.append((env, memory_error(env, worker), worker.pid))
        elif not self._retry(env, worker, code, timeout=True):
            discard_segments(env)
            answers.append((env, timeout_error(env, worker), worker.pid))

    def _retry(self, env: Envelope, worker: WorkerHandle, code: int | None,
               timeout: bool = False) -> bool:
        """Record the death; send ``env`` again if its policy allows (lock held).

        At-least-once: the task may have done part of its work (or all of it, and
        died before answering), so only a call that opted in is run again.
        """
        policy = env.task.policy
        what = (f"timed out after {env.task.timeout:g} s" if timeout
                else exit_description(code))
        attempts = env.attempts
        if attempts is None:
            attempts = env.attempts = []
        attempts.append((worker.pid, code, what))
        if len(attempts) > policy.retries or (timeout and not policy.retries_on_timeout):
            return False
        log.info("pool: %s lost its worker (pid %s, %s); running it again (attempt %d of %d)",
                 env.task.describe(), worker.pid, what, len(attempts) + 1, policy.retries + 1)
        self._pending.appendleft(env.requeued())
        return True

    def _check_memory(self) -> None:
        """Kill a worker whose running task took it past its memory limit (lock held)."""
        for worker in self._workers:
            if not worker.outstanding or worker.timed_out is not None or worker.exited:
                continue
            env = worker.outstanding[0]
            limit = env.task.policy.memory_limit
            if limit is None:
                continue
            resident = worker.resident_bytes()
            if resident is None:
                continue
            if env.peak is None or resident > env.peak:
                env.peak = resident
            if resident > limit:
                self._stop_running(worker)

    def _requeue(self, envelopes: list[Envelope]) -> None:
        """Tasks a dead worker never started go first in line for the others."""
        for env in envelopes:
            if env.cancelled:
                discard_segments(env)
        self._pending.extendleft(env.requeued() for env in reversed(envelopes)
                                 if not env.cancelled)

    def _crash(self, exc: BaseException) -> None:
        """The supervisor itself failed: fail every task, stop every worker."""
        answers: list[Any] = []
        with self._lock:
            if self.broken is None:
                self.broken = StartupError(f"the pool's supervisor failed: {exc!r}")
            for env in self._pending:
                answers.append((env, self._refusal(env.task), None))
            self._pending.clear()
            for worker in self._workers:
                for env in worker.outstanding:
                    answers.append((env, self._refusal(env.task), worker.pid))
                worker.outstanding.clear()
                worker.kill()
            workers = list(self._workers)
        self._deliver_answers(answers)
        for worker in workers:
            try:
                worker.proc.join(GIVE_UP)
            except Exception:
                pass



def _over_memory(env: Envelope) -> bool:
    limit = env.task.policy.memory_limit
    return limit is not None and env.peak is not None and env.peak > limit
