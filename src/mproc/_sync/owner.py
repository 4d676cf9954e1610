"""Who holds a lock, whether that process still exists, and recovering from it.

The rule (also in docs/decisions.md): a Lock or RLock whose holder process dies is
released on the dead holder's behalf, and a process that is waiting for it gets it.

* A holder is recorded as a *token* in a shared cell next to the semaphore: the
  pid in the low 24 bits, the process's start time (``/proc/<pid>/stat`` field 22,
  clock ticks since boot) above them. ``acquire`` writes it with one 8-byte store
  into shared memory after taking the semaphore. Lock's ``release`` is the C
  semaphore's own and leaves the token in place (it names the *last acquirer*),
  and so does RLock's final release. There is no system call beyond the
  semaphore's own on either path.
* A process blocked in ``acquire`` wakes every ``POLL_INTERVAL`` seconds and reads
  the token. The holder is dead when ``/proc/<pid>`` is gone, is a zombie, or
  started at another time than recorded (its pid was reused). A waiter acts only
  when two looks at least an interval apart find the *same* dead token: a live process that has
  just taken the semaphore and not yet stored its token is not mistaken for its
  dead predecessor unless it stalls for a whole interval in those few bytecodes.
  A zero token is never treated as dead.
* Exactly one waiter recovers: it takes a POSIX record lock (``fcntl``) on the
  cell's 8 bytes in the page file, plus a process-local thread lock, checks the
  token again, clears it and posts the semaphore once (through libc, so that its
  own semaphore object does not count a release it never acquired), and then
  tries to take the lock itself. The kernel drops a record lock when its process dies, so the guard
  itself cannot be lost.
* The process that recovers the lock is told: it issues a ``LockRecoveredWarning``
  (a RuntimeWarning) and logs the same message at WARNING level to the
  ``multiprocessing`` logger. Data the dead holder was changing may be half
  updated; the warning is the signal to check it.

Threads are not covered: a thread that dies holding a lock leaves its process
alive, and the lock stays held, as with ``threading.Lock``.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from .._runtime import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "LockRecoveredWarning",
    "POLL_INTERVAL",
    "current_token",
    "token_pid",
    "holder_alive",
    "recovery_guard",
    "report_recovery",
]

POLL_INTERVAL = 0.1
PID_BITS = 24
PID_MASK = (1 << PID_BITS) - 1
_HAVE_PROC = os.path.isdir("/proc/self")


class LockRecoveredWarning(RuntimeWarning):
    """A lock was released on behalf of a holder process that died holding it."""


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (state first), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            data = stream.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may contain anything.
    return data[data.rfind(b")") + 2:].split()


def _start_time(pid: int) -> int:
    if not _HAVE_PROC:
        return 0
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0
    if fields is None or len(fields) < 20:
        return 0
    return int(fields[19]) & ((1 << (63 - PID_BITS)) - 1)


_own: tuple[int, int] = (0, 0)  # (pid, start time) of this process, once known


def _own_start() -> int:
    global _own
    pid = os.getpid()
    if _own[0] != pid:
        _own = (pid, _start_time(pid))
    return _own[1]


def current_token() -> int:
    """This process's holder token (computed once per process by the caller)."""
    return (_own_start() << PID_BITS) | (os.getpid() & PID_MASK)


def token_pid(token: int) -> int:
    return token & PID_MASK


def _kill_probe(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_alive(token: int) -> bool:
    """Whether the process that stored ``token`` still exists (not a zombie)."""
    pid = token & PID_MASK
    if pid == os.getpid():  # another thread of ours, unless our pid is a reused one
        start = token >> PID_BITS
        return not start or start == _own_start()
    if not _HAVE_PROC:
        return _kill_probe(pid)
    try:
        fields = _stat_fields(pid)
    except OSError:
        return _kill_probe(pid)
    if fields is None:
        return False
    if fields and fields[0] in (b"Z", b"X", b"x"):
        return False
    start = token >> PID_BITS
    if start and len(fields) >= 20:
        return (int(fields[19]) & ((1 << (63 - PID_BITS)) - 1)) == start
    return True


_guard = threading.Lock()
_guard_hooked = False  # the fork hook is added on first use: forks before it cost less


def _reset_guard() -> None:
    global _guard
    _guard = threading.Lock()


@contextmanager
def recovery_guard(fd: int, offset: int, length: int = 8) -> Iterator[None]:
    """Exclusive, across threads and processes, over bytes ``offset..+length`` of fd."""
    import fcntl

    global _guard_hooked
    if not _guard_hooked and hasattr(os, "register_at_fork"):
        _guard_hooked = True
        os.register_at_fork(after_in_child=_reset_guard)
    with _guard:
        fcntl.lockf(fd, fcntl.LOCK_EX, length, offset)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, length, offset)


def report_recovery(what: str, token: int) -> None:
    """Tell this process it now deals with a lock whose holder died."""
    import warnings

    message = (
        f"{what} was held by process {token_pid(token)}, which died without "
        "releasing it; it was released on that process's behalf (the data it "
        "protects may be half updated)"
    )
    log.warn("%s", message)
    warnings.warn(LockRecoveredWarning(message), stacklevel=4)
