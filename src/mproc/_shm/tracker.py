"""The resource tracker: a helper process that cleans up after creators that died.

Named POSIX semaphores and shared-memory segments outlive the process that made
them. A creator removes its own names when it is done with them; the tracker covers
the case where it never gets the chance (SIGKILL, ``os._exit``, a crash)::

    creator ----- REGISTER:semaphore:/mp-12-ab ----->  tracker (one per process tree)
    children ---- REGISTER / UNREGISTER ------------>    keeps {type: {names}}
                                                         EOF: every writer has exited
                                                         -> warn, remove what is left

Every process of the tree holds the write end of one pipe: fork children inherit
it, spawn and forkserver children are handed it by their launcher (it is listed
in ``STATE.helper_fds`` while a tracker is in use). The tracker only reads; when the
last writer exits it sees EOF, removes the names still registered (so a program
that cleaned up after itself gets no warning at all) and exits. It ignores SIGINT
and SIGTERM: a Ctrl-C aimed at the program must not take the safety net down first.

Messages are single ``write()``s of at most 512 bytes (the smallest PIPE_BUF POSIX
allows), so writes from many processes never interleave. Resource types are known
by name only: the layer that owns a type registers its cleanup function with
``register_cleanup``, and the tracker process imports it by module and qualified
name when it first hears of that type (a ``DEFINE`` message). That keeps this
module free of imports from the layers above it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .._runtime.finalize import Finalize
from .._runtime.state import STATE, register_after_fork_on_use

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

__all__ = [
    "ResourceTracker",
    "ensure_running",
    "register",
    "unregister",
    "getfd",
    "register_cleanup",
    "main",
]

HELPER_KEY = "resource_tracker"
MAX_MESSAGE = 512
_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_EXIT_WAIT = 1.0  # seconds the main process waits, at exit, for the tracker to finish


def _unlink_shared_memory(name: str) -> None:
    import _posixshmem

    _posixshmem.shm_unlink(name)


# rtype -> function(name) that removes one resource. The stdlib's name; CPython's
# test suite calls these directly. Types owned by higher layers are added by them.
_CLEANUP_FUNCS: dict[str, Callable[[str], object]] = {
    "shared_memory": _unlink_shared_memory,
}
if sys.version_info >= (3, 13):
    # A type with nothing to remove, which 3.13's test suite registers (the suites
    # before it iterate over these types and would try to create one).
    _CLEANUP_FUNCS["dummy"] = lambda name: None


def register_cleanup(rtype: str, func: Callable[[str], object]) -> None:
    """Declare resource type ``rtype``; ``func(name)`` removes one such resource.

    ``func`` must be importable as ``func.__module__`` / ``func.__qualname__``: the
    tracker process imports it from there.
    """
    if ":" in rtype or "\n" in rtype:
        raise ValueError(f"invalid resource type {rtype!r}")
    _CLEANUP_FUNCS[rtype] = func


def _dotted_path(func: Callable[[str], object]) -> str:
    return f"{func.__module__}:{func.__qualname__}"


class ResourceTracker:
    """This process's connection to the tracker (the stdlib's class name)."""

    def __init__(self, *, shared: bool = False) -> None:
        # shared: this process tree's tracker (the module's instance), handed to
        # children and adopted from a parent; any other instance runs its own.
        self._shared = shared
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._pid: int | None = None  # set only in the process that started it
        self._parent_pid: int | None = None
        self._defined: set[str] = set()
        self._exit_hook: Finalize | None = None
        # The exit code of the tracker this object started, once reaped: 0 nothing was
        # left registered, 1 leftovers were removed, 2 some could not be.
        self._exitcode: int | None = None

    def _after_fork(self) -> None:
        # The child keeps the inherited pipe (it is one of the tracker's writers)
        # but never the parent's lock, which another thread may have held.
        self._lock = threading.RLock()

    # -- the stdlib's surface -------------------------------------------------

    def getfd(self) -> int | None:
        """The fd of the tracker's pipe, starting the tracker if needed (the stdlib's API)."""
        self.ensure_running()
        return self._fd

    def ensure_running(self) -> None:
        """Make sure a tracker is reachable: the inherited one, or a new one."""
        register_after_fork_on_use(self, ResourceTracker._after_fork)
        with self._lock:
            self._ensure_running_locked()

    def register(self, name: str, rtype: str) -> None:
        """Tell the tracker that ``name`` exists and this tree must remove it."""
        self._send("REGISTER", name, rtype)

    def unregister(self, name: str, rtype: str) -> None:
        """Tell the tracker that ``name`` has been removed (or handed over)."""
        self._send("UNREGISTER", name, rtype)

    def _check_alive(self) -> bool:
        """Whether the tracker still reads our pipe (a probe write succeeds)."""
        fd = self._fd
        if fd is None:
            return False
        try:
            os.write(fd, b"PROBE:noop:-\n")
        except OSError:
            return False
        return True

    def _stop(self, timeout: float | None = None) -> None:
        """Close our end of the pipe; if we started the tracker, wait for it to exit."""
        register_after_fork_on_use(self, ResourceTracker._after_fork)
        with self._lock:
            fd, pid, parent = self._fd, self._pid, self._parent_pid
            self._fd = self._pid = self._parent_pid = None
            self._defined = set()
            self._publish(None)
            if fd is None:
                return
            os.close(fd)
            if pid is not None and parent == os.getpid():
                self._exitcode = _reap(pid, timeout)

    # -- internals ------------------------------------------------------------

    def _ensure_running_locked(self) -> None:
        if self._fd is None or self._handed_another():
            self._adopt_inherited()
        if self._fd is not None:
            if self._alive():
                return
            import warnings

            self._forget_dead()
            warnings.warn(
                "resource_tracker: process died unexpectedly, relaunching.  "
                "Some resources might leak.",
                stacklevel=4,
            )
        self._launch()

    def _alive(self) -> bool:
        if self._pid is not None and self._parent_pid == os.getpid():
            try:
                done, _status = os.waitpid(self._pid, os.WNOHANG)
            except ChildProcessError:
                return self._check_alive()
            return done == 0
        return self._check_alive()

    def _forget_dead(self) -> None:
        fd, pid, parent = self._fd, self._pid, self._parent_pid
        self._fd = self._pid = self._parent_pid = None
        self._defined = set()
        self._publish(None)
        if fd is not None:
            os.close(fd)
        if pid is not None and parent == os.getpid():
            _reap(pid, 0)

    def _handed_another(self) -> bool:
        """Whether this process was handed its tree's tracker while it still holds one
        it inherited from elsewhere: a forkserver child has the fork server's."""
        handed = STATE.helper_fds.get(HELPER_KEY) if self._shared else None
        return handed is not None and handed != self._fd and self._parent_pid != os.getpid()

    def _adopt_inherited(self) -> None:
        fd = STATE.helper_fds.get(HELPER_KEY) if self._shared else None
        if fd is not None:
            if self._fd is not None and self._fd != fd:
                os.close(self._fd)  # another tree's pipe: do not keep its tracker alive
            self._fd, self._pid, self._parent_pid = fd, None, None
            self._defined = set()

    def _launch(self) -> None:
        from .._launch.spawn import posix_spawn_with_fds

        read_fd, write_fd = os.pipe()
        try:
            argv = _command(read_fd)
            # Started with SIGINT/SIGTERM blocked, so a signal that arrives while the
            # interpreter boots cannot kill it before main() ignores them.
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
            try:
                pid = posix_spawn_with_fds(argv, [read_fd])
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        self._fd, self._pid, self._parent_pid = write_fd, pid, os.getpid()
        self._defined = set()
        self._exitcode = None
        self._publish(write_fd)
        hook = self._exit_hook
        if hook is None or not hook.still_active() or hook._pid != os.getpid():
            # At exit (and in cleanup_for_tests), after every lock's own finalizer.
            self._exit_hook = Finalize(None, ResourceTracker._stop, args=(self, _EXIT_WAIT),
                                       exitpriority=-100)

    def _publish(self, fd: int | None) -> None:
        """Offer the pipe to the children that launchers start from now on."""
        if not self._shared:
            return
        if fd is None:
            STATE.helper_fds.pop(HELPER_KEY, None)
        else:
            STATE.helper_fds[HELPER_KEY] = fd

    def _send(self, cmd: str, name: str, rtype: str) -> None:
        message = f"{cmd}:{rtype}:{name}\n".encode()
        if len(message) > MAX_MESSAGE:
            raise ValueError(f"resource name too long for the tracker's pipe: {name!r}")
        func = _CLEANUP_FUNCS.get(rtype)
        if func is None:
            raise ValueError(f"cannot register {name!r}: unknown resource type {rtype!r}")
        register_after_fork_on_use(self, ResourceTracker._after_fork)
        with self._lock:
            if cmd == "UNREGISTER" and self._fd is None:
                self._adopt_inherited()
                if self._fd is None:
                    return  # no tracker was ever told about it from this process tree
            for attempt in (1, 2):
                self._ensure_running_locked()
                assert self._fd is not None
                try:
                    if rtype not in self._defined:
                        define = f"DEFINE:{rtype}:{_dotted_path(func)}\n".encode()
                        if len(define) <= MAX_MESSAGE:
                            os.write(self._fd, define)
                        self._defined.add(rtype)
                    os.write(self._fd, message)
                    return
                except BrokenPipeError:
                    if attempt == 2:
                        raise


def _reap(pid: int, timeout: float | None) -> int | None:
    """waitpid ``pid`` and return its exit code; None if it is not ours or still
    running after ``timeout`` seconds (None: wait for ever)."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return os.waitstatus_to_exitcode(status)
        assert deadline is not None
        if time.monotonic() >= deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _command(read_fd: int) -> list[str]:
    """argv of the tracker: the interpreter and flags the launchers use for children."""
    from .._launch.spawn import child_command

    return child_command("mproc._shm.tracker", "main", str(read_fd))


_resource_tracker = ResourceTracker(shared=True)
ensure_running: Final = _resource_tracker.ensure_running
register: Final = _resource_tracker.register
unregister: Final = _resource_tracker.unregister
getfd: Final = _resource_tracker.getfd


# -- the tracker process ----------------------------------------------------------


def main() -> None:
    """Entry point of the tracker process (argv: the read end of the pipe)."""
    fd = int(sys.argv[1])
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    from .._runtime.fds import close_all_fds_except

    close_all_fds_except([0, 1, 2, fd])
    # stdin/stdout belong to the program: holding them would keep a reader of the
    # program's output waiting for EOF. stderr stays, for the warnings.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    sys.exit(serve(fd))


def serve(fd: int) -> int:
    """Read messages until every writer has gone, then clean up what is left.

    Returns the exit code: 0 if nothing was left, 1 if leftovers were removed, 2 if
    some could not be removed.
    """
    registered: dict[str, set[str]] = {}
    paths: dict[str, str] = {}
    with open(fd, "rb") as stream:
        for raw in stream:
            try:
                cmd, rtype, arg = raw.rstrip(b"\n").decode().split(":", 2)
                if cmd == "REGISTER":
                    registered.setdefault(rtype, set()).add(arg)
                elif cmd == "UNREGISTER":
                    registered.get(rtype, set()).discard(arg)
                elif cmd == "DEFINE":
                    paths[rtype] = arg
                elif cmd != "PROBE":
                    raise RuntimeError(f"unrecognized command {cmd!r}")
            except Exception:
                try:
                    sys.excepthook(*sys.exc_info())
                except Exception:
                    pass
    return _cleanup(registered, paths)


def _resolve(rtype: str, paths: dict[str, str]) -> Callable[[str], object]:
    func = _CLEANUP_FUNCS.get(rtype)
    if func is not None:
        return func
    import importlib

    module_name, _, qualname = paths[rtype].partition(":")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[return-value]


def _cleanup(registered: dict[str, set[str]], paths: dict[str, str]) -> int:
    import warnings

    code = 0
    for rtype, names in registered.items():
        if not names:
            continue
        code = max(code, 1)
        if rtype != "dummy":
            warnings.warn(
                f"resource_tracker: There appear to be {len(names)} leaked {rtype} "
                "objects to clean up at shutdown",
                stacklevel=1,
            )
        try:
            func = _resolve(rtype, paths)
        except Exception as exc:
            warnings.warn(f"resource_tracker: cannot clean up {rtype}: {exc!r}", stacklevel=1)
            code = 2
            continue
        for name in sorted(names):
            try:
                func(name)
            except Exception as exc:
                warnings.warn(f"resource_tracker: {name!r}: {exc}", stacklevel=1)
                code = 2
    return code
