"""The loop each pool worker process runs (the child side of ``processes``).

A worker reads frames from its own task pipe and answers on its own result pipe,
one task at a time, in order. It never decides anything on its own: the parent
sends at most ``maxtasks`` tasks and then expects the worker to exit, sends QUIT
when the pool closes, and learns of a crash from the worker's sentinel. What the
worker guarantees is that every task it *starts* gets exactly one answer unless the
process dies:

* the function or the arguments fail to unpickle -> ERROR (phase FUNC / ARGS);
* the function raises anything, even SystemExit or KeyboardInterrupt -> ERROR;
* the result fails to pickle -> ERROR carrying a ``MaybeEncodingError``;
* otherwise -> OK with the pickled result (with the reducers the pool's class asked
  for, if any: its "backward" reducers, given in the worker's start-up arguments).

Each answer is written before the next task is read, so when a worker dies the
parent knows which task it was running: the oldest one without an answer.

The worker makes itself a process-group leader, so that a task that overruns its
timeout can be killed together with every process it started.
"""

from __future__ import annotations

import collections
import itertools
import os

from . import codec
from .remote import pack_exception

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from ..._wire.connection import Connection

__all__ = ["run_worker"]

_FRAME_LIMIT = 0xFFFFFFFF


def _write_frame(fd: int, parts: list[Any]) -> None:
    """Write one Connection frame made of ``parts`` (blocking, all or raise)."""
    size = 0
    for part in parts:
        size += len(part)
    views: list[Any] = [codec.frame_header(size), *parts]
    total = size + len(views[0])
    written = os.writev(fd, views)
    if written == total:
        return
    for part in views:  # interrupted part-way: finish piece by piece
        if written >= len(part):
            written -= len(part)
            continue
        rest = memoryview(part)[written:]
        written = 0
        while rest:
            rest = rest[os.write(fd, rest):]


class _Answers:
    """Frames from the worker to the parent."""

    def __init__(self, fd: int, reducers: codec.Reducers | None = None) -> None:
        self.fd = fd
        self.reducers = reducers

    def ready(self) -> None:
        _write_frame(self.fd, [codec.READY_HEAD.pack(codec.READY, os.getpid())])

    def started(self, tid: int, item: int) -> None:
        _write_frame(self.fd, [codec.START_HEAD.pack(codec.START, tid, item)])

    def ok(self, tid: int, value: Any) -> None:
        try:
            flags, parts, names = codec.encode(value, strict=True, reducers=self.reducers)
        except Exception as exc:
            from ...errors import MaybeEncodingError

            self.error(tid, codec.PHASE_RESULT, MaybeEncodingError(exc, value), traceback=False)
            return
        try:
            _write_frame(self.fd, [codec.RESULT_HEAD.pack(codec.OK, tid, flags), *parts])
        except BaseException:
            for name in names:
                codec.buffers.discard(name)
            raise

    def error(self, tid: int, phase: int, exc: BaseException, traceback: bool = True) -> None:
        text, parts = pack_exception(exc)
        if not traceback:
            text = b""
        _write_frame(self.fd, [codec.ERROR_HEAD.pack(codec.ERROR, tid, phase, len(text)),
                               text, *parts])

    def skipped(self, tid: int) -> None:
        _write_frame(self.fd, [codec.TID_HEAD.pack(codec.SKIPPED, tid)])

    def init_failed(self, exc: BaseException) -> None:
        text, parts = pack_exception(exc)
        _write_frame(self.fd, [codec.ERROR_HEAD.pack(codec.INIT_FAILED, 0, codec.PHASE_RUN,
                                                     len(text)), text, *parts])


def _run_task(frame: bytes, functions: dict[int, Any], answers: _Answers) -> None:
    _kind, tid, fid, mode, flags = codec.TASK_HEAD.unpack_from(frame)
    func = functions.get(fid)
    if type(func) is _Blob:
        try:
            func = functions[fid] = codec.loads(func.view)
        except BaseException as exc:
            answers.error(tid, codec.PHASE_FUNC, exc)
            return
    elif func is None:
        answers.error(tid, codec.PHASE_FUNC,
                      LookupError(f"the pool never sent function #{fid} to this worker"))
        return
    try:
        payload = codec.decode(memoryview(frame)[codec.TASK_HEAD.size:], flags)
    except BaseException as exc:
        answers.error(tid, codec.PHASE_ARGS, exc)
        return
    try:
        value = _call(func, mode, payload, tid if flags & codec.TIMED else None, answers)
    except BaseException as exc:
        del payload
        answers.error(tid, codec.PHASE_RUN, exc)
        return
    del payload
    answers.ok(tid, value)


def _call(func: Callable[..., Any], mode: int, payload: Any, timed_tid: int | None,
          answers: _Answers) -> Any:
    if mode == codec.APPLY:
        args, kwds = payload
        if timed_tid is not None:
            answers.started(timed_tid, 0)
        return func(*args, **kwds)
    if timed_tid is None:
        if mode == codec.MAP:
            return list(map(func, payload))
        return list(itertools.starmap(func, payload))
    values = []
    for item, arg in enumerate(payload):
        answers.started(timed_tid, item)
        values.append(func(arg) if mode == codec.MAP else func(*arg))
    return values


def _read_ahead(tasks: Connection, ahead: collections.deque[bytes], cancelled: set[int]) -> None:
    """Read every frame already sent, noting the CANCELs (before a cancellable task)."""
    while tasks.poll(0):
        try:
            frame = tasks.recv_bytes()
        except (EOFError, OSError):
            return  # the parent is gone: the next read says so
        if frame[:1] == codec.CANCEL:
            cancelled.add(codec.TID_HEAD.unpack_from(frame)[1])
        else:
            ahead.append(frame)


class _Blob:
    """A function message not yet unpickled (unpickled on first use)."""

    __slots__ = ("view",)

    def __init__(self, frame: bytes) -> None:
        self.view = memoryview(frame)[codec.FUNC_HEAD.size:]


def run_worker(tasks: Connection, results: Connection, initializer: Callable[..., Any] | None,
               initargs: Iterable[Any], maxtasks: int | None, close_fds: Iterable[int] = (),
               reducers: codec.Reducers | None = None) -> None:
    """Process target of every pool worker (``reducers``: for the results)."""
    for fd in close_fds:  # the parent's ends of other workers' pipes (fork only)
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    answers = _Answers(results.fileno(), reducers)
    try:
        if initializer is not None:
            try:
                initializer(*initargs)
            except BaseException as exc:
                answers.init_failed(exc)
                raise SystemExit(1) from None
        answers.ready()
        functions: dict[int, Any] = {}
        recv = tasks.recv_bytes
        ahead: collections.deque[bytes] = collections.deque()  # read early, not yet run
        cancelled: set[int] = set()
        done = 0
        while maxtasks is None or done < maxtasks:
            try:
                frame = ahead.popleft() if ahead else recv()
            except (EOFError, OSError):
                return  # the parent is gone
            kind = frame[:1]
            if kind == codec.TASK:
                _kind, tid, _fid, _mode, flags = codec.TASK_HEAD.unpack_from(frame)
                if flags & codec.CANCELLABLE:
                    _read_ahead(tasks, ahead, cancelled)
                if tid in cancelled:
                    cancelled.discard(tid)
                    answers.skipped(tid)
                else:
                    _run_task(frame, functions, answers)
                done += 1
                del frame
            elif kind == codec.CANCEL:
                cancelled.add(codec.TID_HEAD.unpack_from(frame)[1])
            elif kind == codec.FUNC:
                functions[codec.FUNC_HEAD.unpack_from(frame)[1]] = _Blob(frame)
            elif kind == codec.DROP:
                functions.pop(codec.FUNC_HEAD.unpack_from(frame)[1], None)
            elif kind == codec.QUIT:
                return
    except BrokenPipeError:
        return  # the parent is gone
    finally:
        tasks.close()
        results.close()
