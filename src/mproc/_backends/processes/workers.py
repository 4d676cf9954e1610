"""The parent's handle on one worker process: its pipes, its tasks, its death.

A ``WorkerHandle`` owns the process object, the parent's ends of the worker's two
pipes (non-blocking, see ``channel``), the FIFO of tasks sent and not yet answered,
and the mirror of which functions the worker holds. Starting is split in two so
that a pool whose Nth ``start()`` fails can stop the N-1 it started without having
touched anything a half-made process object may lack (``spawn`` then ``activate``).

``kill_tree`` (from the launch layer's platform module) is how a task that overran
its timeout or its memory limit is stopped: the worker, its process group (it made
itself the leader) and every descendant found under /proc.

The errors a worker's death produces say what happened, to which task, in which
process, and what the pool did about it (``lost_error``, ``timeout_error``,
``startup_error``).
"""

from __future__ import annotations

import collections
import os
import signal

from ..._launch.platform import kill_tree
from ..._wire.pipes import os_pipe
from ...errors import MemoryLimitError, StartupError, TaskTimeoutError, WorkerLostError
from . import codec
from .channel import FrameReader, FrameWriter
from .remote import describe_exception, unpack_exception
from .worker import run_worker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .envelopes import Envelope

__all__ = ["WorkerHandle", "kill_tree", "exit_description", "lost_error", "timeout_error",
           "memory_error", "startup_error"]

FUNCTIONS_PER_WORKER = 32  # functions a worker keeps (the parent mirrors the set)
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def exit_description(code: int | None) -> str:
    """``"exit code 3"`` or ``"killed by SIGKILL"``."""
    if code is None:
        return "unknown exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerHandle:
    """One worker process as the supervisor sees it."""

    reader: FrameReader  # both set by activate(); only activated handles are served
    writer: FrameWriter

    def __init__(self, proc: Any, task_end: Any, result_end: Any) -> None:
        self.proc = proc
        self._task_end = task_end  # Connection: parent writes tasks
        self._result_end = result_end  # Connection: parent reads answers
        self.pid = 0
        self.sentinel = -1
        self.outstanding: collections.deque[Any] = collections.deque()  # envelopes, FIFO
        self.functions: collections.OrderedDict[int, None] = collections.OrderedDict()
        self.sent = 0  # tasks sent over the worker's life (maxtasksperchild)
        self.bytes_out = 0  # bytes handed to the writer over the worker's life
        self.ready = False  # READY received: the initializer ran
        self.init_error: bytes | None = None  # the INIT_FAILED frame
        self.timed_out: Any = None  # the envelope whose timeout got the worker killed
        self.quit_sent = False
        self.watching_writes = False  # POLLOUT registered for the task pipe
        self.exited = False
        self.last_done = 0.0  # monotonic time of the last answer

    # -- life -----------------------------------------------------------------

    @classmethod
    def spawn(cls, context: Any, name_index: int, initializer: Any, initargs: Any,
              maxtasks: int | None, close_fds: list[int],
              reducers: codec.Reducers | None = None) -> WorkerHandle:
        """Create the pipes and start the process (raises if it cannot start).

        ``reducers``: what the worker pickles its results with (a Pool subclass's).
        """
        task_r, task_w = os_pipe()
        result_r, result_w = os_pipe()
        try:
            proc = context.Process(target=run_worker, daemon=True, args=(
                task_r, result_w, initializer, tuple(initargs), maxtasks, close_fds, reducers))
            name = getattr(proc, "name", None)
            if isinstance(name, str):
                proc.name = name.replace("Process", "PoolWorker")
            proc.start()
        except BaseException:
            for conn in (task_r, task_w, result_r, result_w):
                conn.close()
            raise
        finally:
            task_r.close()
            result_w.close()
        return cls(proc, task_w, result_r)

    def activate(self) -> None:
        """Read the pid and sentinel and make the parent's ends non-blocking."""
        self.pid = self.proc.pid  # forkserver: consumes the pid header of the sentinel
        self.sentinel = self.proc.sentinel
        self.reader = FrameReader(self._result_end.fileno())
        self.writer = FrameWriter(self._task_end.fileno())

    def abort(self) -> None:
        """Stop a worker that was started but never activated."""
        try:
            self.proc.terminate()
            self.proc.join()
        finally:
            self.close_channels()

    def parent_fds(self) -> list[int]:
        """The fds this handle keeps open in the parent (for fork children to close)."""
        fds = []
        for conn in (self._task_end, self._result_end):
            if not conn.closed:
                fds.append(conn.fileno())
        if self.sentinel >= 0:
            fds.append(self.sentinel)
        return fds

    def close_channels(self) -> None:
        self._task_end.close()
        self._result_end.close()

    def reap(self) -> int | None:
        """Collect the exit status of a worker whose sentinel fired."""
        try:
            self.proc.join(0)
        except Exception:
            pass
        try:
            return self.proc.exitcode  # type: ignore[no-any-return]
        except Exception:
            return None

    def resident_bytes(self) -> int | None:
        """The worker's resident set size now (Linux /proc), None if unknown."""
        try:
            with open(f"/proc/{self.pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * PAGE_SIZE
        except (OSError, ValueError, IndexError):
            return None

    def terminate(self) -> None:
        try:
            self.proc.terminate()
        except Exception:
            pass

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:
            pass

    # -- functions ----------------------------------------------------------------

    def function_frames(self, fid: int, frame: list[bytes]) -> list[bytes]:
        """Frames that make ``fid`` known to the worker (and forget the oldest)."""
        functions = self.functions
        if fid in functions:
            functions.move_to_end(fid)
            return []
        parts = list(frame)
        functions[fid] = None
        if len(functions) > FUNCTIONS_PER_WORKER:
            old, _ = functions.popitem(last=False)
            parts += drop_frame(old)
        return parts


def drop_frame(fid: int) -> list[bytes]:
    head = codec.FUNC_HEAD.pack(codec.DROP, fid)
    return [codec.frame_header(len(head)), head]


# -- what a death means --------------------------------------------------------------


def _attempts_text(env: Envelope) -> str:
    attempts = env.attempts or []
    if len(attempts) < 2:
        return ""
    listed = "; ".join(f"pid {pid} ({what})" for pid, _code, what in attempts)
    return f"; it ran {len(attempts)} times (retries={env.task.policy.retries}): {listed}"


def lost_error(env: Envelope, worker: WorkerHandle, code: int | None) -> WorkerLostError:
    """The worker died while running ``env``'s task (its last attempt, if retried)."""
    task = env.task.describe()
    error = WorkerLostError(
        f"worker pid {worker.pid} died ({exit_description(code)}) while running {task}"
        f"{_attempts_text(env)}; the pool started a replacement and runs the other tasks")
    error.pid, error.exitcode, error.task = worker.pid, code, task  # type: ignore[attr-defined]
    error.attempts = [(pid, exit_code) for pid, exit_code, _what in  # type: ignore[attr-defined]
                      env.attempts or [(worker.pid, code, "")]]
    return error


def memory_error(env: Envelope, worker: WorkerHandle) -> MemoryLimitError:
    """``env``'s task took its worker past its memory limit; the worker was killed."""
    task = env.task.describe()
    limit, peak = env.task.policy.memory_limit, env.peak or 0
    mib = 1 << 20
    error = MemoryLimitError(
        f"{task} took worker pid {worker.pid}'s resident memory to {peak / mib:.1f} MiB, "
        f"past its memory_limit of {(limit or 0) / mib:.1f} MiB; the worker was killed "
        f"and replaced (raise memory_limit, or make the task use less)")
    error.pid, error.task = worker.pid, task  # type: ignore[attr-defined]
    error.limit, error.peak = limit, peak  # type: ignore[attr-defined]
    return error


def timeout_error(env: Envelope, worker: WorkerHandle) -> TaskTimeoutError:
    """``env``'s task overran its timeout; the worker was killed."""
    task = env.task
    item = env.item
    where = f" at item {task.first + item}" if item is not None and task.count > 1 else ""
    if env.killed:
        killed = f"worker pid {worker.pid} and {env.killed} process(es) it started were killed"
    else:
        killed = f"worker pid {worker.pid} was killed"
    error = TaskTimeoutError(
        f"{task.describe()} ran longer than its timeout of {task.timeout:g} s{where}; "
        f"{killed} and replaced{_attempts_text(env)}")
    error.pid, error.timeout, error.task = worker.pid, task.timeout, task.describe()  # type: ignore[attr-defined]
    return error


def startup_error(count: int, worker: WorkerHandle | None, code: int | None,
                  reason: str | None, method: Any) -> StartupError:
    """Workers keep dying before they are ready: say why, as well as we can."""
    if worker is None:
        what = f"could not start ({reason})"
    else:
        what = f"exited ({exit_description(code)}) before it was ready"
    message = f"the pool's workers keep dying at start-up: {count} in a row; the last one {what}."
    cause = None
    if worker is not None and worker.init_error is not None:
        frame = worker.init_error
        _k, _tid, phase, length = codec.ERROR_HEAD.unpack_from(frame)
        start = codec.ERROR_HEAD.size
        text = bytes(frame[start:start + length]).decode("utf-8", "replace")
        cause = unpack_exception(text, memoryview(frame)[start + length:], phase, worker.pid,
                                 "the initializer")
        message += f" The initializer raised {describe_exception(cause)}."
    elif worker is not None and method in ("spawn", "forkserver"):
        message += (f" Under the {method} start method every worker imports the main module:"
                    " if it creates the pool at import time, put that code under"
                    " 'if __name__ == \"__main__\":'.")
    error = StartupError(message)
    error.__cause__ = cause
    return error
