"""The process object model: BaseProcess, the main process and the parent view.

A BaseProcess knows its target, name, identity and configuration (authkey,
daemon flag). How a child is made is not its business: a context subclass supplies
``_Popen``, a start-method strategy from ``_launch``. In the child,
``_bootstrap`` turns the object into the current process, runs it, and computes
the exit code exactly as the stdlib does.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

from ._runtime import aio, log
from ._runtime.finalize import drop_inherited_finalizers, run_finalizers, set_exiting
from ._runtime.state import STATE
from ._serialize.spawning import spawning_launcher
from .errors import BootstrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

__all__ = [
    "BaseProcess",
    "ParentProcess",
    "AuthenticationString",
    "current_process",
    "parent_process",
    "active_children",
    "cleanup_children",
    "exit_function",
]


class AuthenticationString(bytes):
    """An authkey: bytes that refuse to be pickled except to start a child."""

    def __reduce__(self) -> Any:
        if spawning_launcher() is None:
            raise TypeError(
                "Pickling an AuthenticationString object is disallowed for security reasons"
            )
        return AuthenticationString, (bytes(self),)


def _exitcode_name(code: int) -> str | int:
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            pass
    return code


class BaseProcess:
    """Activity run in a separate process: ``target(*args, **kwargs)``, or ``run()``.

    ``p = mproc.Process(target=f, args=(1,)); p.start(); p.join()``. After it
    ends, ``exitcode`` is 0, the code passed to ``sys.exit``, 1 after an exception,
    or ``-N`` if signal N killed it.
    """

    _start_method: str | None = None

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802 - stdlib name
        raise NotImplementedError

    def __init__(
        self,
        group: None = None,
        target: Callable[..., object] | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        daemon: bool | None = None,
        outlive_parent: bool = False,
    ) -> None:
        assert group is None, "group argument must be None for now"
        current = STATE.current
        self._identity: tuple[int, ...] = current._identity + (STATE.next_child_index(),)
        self._config: dict[str, Any] = current._config.copy()
        self._parent_pid: int | None = os.getpid()
        self._parent_name: str = current.name
        self._popen: Any = None
        self._closed = False
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs) if kwargs else {}
        self._name = name or (
            type(self).__name__ + "-" + ":".join(str(i) for i in self._identity)
        )
        if daemon is not None:
            self.daemon = daemon
        self._outlive_parent = bool(outlive_parent)
        STATE.dangling.add(self)

    def _check_closed(self) -> None:
        if self._closed:
            raise ValueError("process object is closed")

    def run(self) -> None:
        """The activity of the process; override in a subclass or pass target=."""
        if self._target:
            self._target(*self._args, **self._kwargs)

    def start(self) -> None:
        """Start the child process."""
        self._check_closed()
        assert self._popen is None, "cannot start a process twice"
        assert self._parent_pid == os.getpid(), (
            "can only start a process object created by current process"
        )
        assert not STATE.current._config.get("daemon"), (
            "daemonic processes are not allowed to have children"
        )
        if STATE.bootstrapping:
            raise BootstrapError(
                "An attempt has been made to start a new process before the current "
                "process has finished its bootstrapping phase. The main module is being "
                "re-imported in a child (start method spawn or forkserver) and it starts "
                "processes at import time. Put that code under "
                "'if __name__ == \"__main__\":' in the main module."
            )
        cleanup_children()
        self._popen = self._Popen(self)
        self._sentinel = self._popen.sentinel
        # Drop references to the target so it can be collected in the parent.
        del self._target, self._args, self._kwargs
        STATE.children.add(self)

    def terminate(self) -> None:
        """Send SIGTERM to the process."""
        self._check_closed()
        self._popen.terminate()

    def kill(self) -> None:
        """Send SIGKILL to the process."""
        self._check_closed()
        self._popen.kill()

    def interrupt(self) -> None:
        """Send SIGINT to the process (KeyboardInterrupt in Python code)."""
        self._check_closed()
        self._popen.interrupt()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the process ends, or ``timeout`` seconds pass."""
        self._check_closed()
        assert self._parent_pid == os.getpid(), "can only join a child process"
        assert self._popen is not None, "can only join a started process"
        if self._popen.wait(timeout) is not None:
            STATE.children.discard(self)

    async def ajoin(self, timeout: float | None = None) -> None:
        """Await ``join(timeout)``: the loop watches the process's sentinel (a pidfd
        or a status pipe), so no thread waits. Cancelling it leaves the process be."""
        self._check_closed()
        assert self._parent_pid == os.getpid(), "can only join a child process"
        assert self._popen is not None, "can only join a started process"
        if self._popen.poll() is None:
            await aio.readable((self._popen.sentinel,), timeout)
        self.join(0)

    def is_alive(self) -> bool:
        """Whether the process has started and not yet ended."""
        self._check_closed()
        if self is STATE.current:
            return True
        assert self._parent_pid == os.getpid(), "can only test a child process"
        if self._popen is None:
            return False
        if self._popen.poll() is None:
            return True
        STATE.children.discard(self)
        return False

    def close(self) -> None:
        """Release the resources of a finished process object."""
        if self._popen is not None:
            if self._popen.poll() is None:
                raise ValueError(
                    "Cannot close a process while it is still running. "
                    "You should first call join() or terminate()."
                )
            close = getattr(self._popen, "close", None)  # loky's Popen has none
            if close is not None:
                close()
            self._popen = None
            del self._sentinel
            STATE.children.discard(self)
        self._closed = True

    @property
    def name(self) -> str:
        """The process's name (``Process-N`` by default); only a label, not unique."""
        return self._name

    @name.setter
    def name(self, name: str) -> None:
        assert isinstance(name, str), "name must be a string"
        self._name = name

    @property
    def daemon(self) -> bool:
        """Whether the process is daemonic (terminated when its parent exits)."""
        return bool(self._config.get("daemon", False))

    @daemon.setter
    def daemon(self, daemonic: bool) -> None:
        assert self._popen is None, "process has already started"
        self._config["daemon"] = daemonic

    @property
    def outlive_parent(self) -> bool:
        """Whether the child may go on after its parent died without cleaning up.

        False (the default): a child whose parent is killed (SIGKILL, the OOM killer)
        is stopped with all its descendants, a daemonic one at once and any other
        within ``ORPHAN_GRACE_SECONDS``. True opts out, as the stdlib behaves.
        """
        return bool(getattr(self, "_outlive_parent", False))

    @outlive_parent.setter
    def outlive_parent(self, outlive: bool) -> None:
        assert self._popen is None, "process has already started"
        self._outlive_parent = bool(outlive)

    @property
    def authkey(self) -> bytes:
        """The key of Listener/Client and manager authentication (inherited from the parent)."""
        return self._config["authkey"]  # type: ignore[no-any-return]

    @authkey.setter
    def authkey(self, authkey: bytes) -> None:
        self._config["authkey"] = AuthenticationString(authkey)

    @property
    def exitcode(self) -> int | None:
        """None while running; the exit code, or -N if killed by signal N."""
        self._check_closed()
        if self._popen is None:
            return None
        return self._popen.poll()  # type: ignore[no-any-return]

    @property
    def ident(self) -> int | None:
        """The process's pid; None before ``start()``."""
        self._check_closed()
        if self is STATE.current:
            return os.getpid()
        return self._popen.pid if self._popen is not None else None

    pid = ident

    @property
    def sentinel(self) -> int:
        """An fd that becomes readable when the process ends."""
        self._check_closed()
        try:
            return self._sentinel  # type: ignore[no-any-return]
        except AttributeError:
            raise ValueError("process not started") from None

    def __repr__(self) -> str:
        exitcode = None
        if self is STATE.current:
            status = "started"
        elif self._closed:
            status = "closed"
        elif self._parent_pid != os.getpid():
            status = "unknown"
        elif self._popen is None:
            status = "initial"
        else:
            exitcode = self._popen.poll()
            status = "started" if exitcode is None else "stopped"
        parts = [type(self).__name__, f"name={self._name!r}"]
        if self._popen is not None:
            parts.append(f"pid={self._popen.pid}")
        parts.append(f"parent={self._parent_pid}")
        parts.append(status)
        if exitcode is not None:
            parts.append(f"exitcode={_exitcode_name(exitcode)}")
        if self.daemon:
            parts.append("daemon")
        return "<" + " ".join(parts) + ">"

    # -- child side --------------------------------------------------------------

    def _bootstrap(self, parent_pid: int | None = None, parent_sentinel: int | None = None,
                   forked: bool = False, guarded: bool = False,
                   lazy_parent_sentinel: bool = False) -> int:
        """Become the current process, run, and return the exit code.

        ``forked``: this process is a fork (fork, forkserver) and will leave with
        ``os._exit``. The ``atexit`` handlers it inherited are its parent's and are
        dropped; the ones its own code registers run when it finishes, as they would
        at the end of a spawned child's interpreter. ``guarded``: the fork server (or,
        under fork, the parent's guardian) stops this child if the parent dies, so it
        runs no watch thread of its own. ``lazy_parent_sentinel``: the parent is
        this process's parent in the kernel's eyes (fork), so ``parent_process()``
        opens its sentinel when first asked for it.
        """
        from ._launch.platform import ORPHAN_GRACE_SECONDS, watch_parent

        exitcode = 1
        if forked:
            atexit._clear()  # type: ignore[attr-defined]
            atexit.register(exit_function)
        try:
            STATE.become_child(self, ParentProcess(
                self._parent_name, self._parent_pid, parent_sentinel,
                lazy=lazy_parent_sentinel))
            if self._start_method is not None:
                STATE.start_method_in_child = self._start_method
            drop_inherited_finalizers()
            set_exiting(False)
            _refresh_main_thread_id()
            if sys.stdin is not None:
                try:
                    sys.stdin.close()
                    sys.stdin = _take_spare_stdin()
                except (OSError, ValueError):
                    pass
            if parent_pid is not None and not self.outlive_parent and not guarded:
                watch_parent(parent_pid, parent_sentinel,
                             grace=0.0 if self.daemon else ORPHAN_GRACE_SECONDS)
            try:
                log.info("child process calling self.run()")
                self.run()
                exitcode = 0
            finally:
                if forked:
                    atexit._run_exitfuncs()  # type: ignore[attr-defined] # ours last
                else:
                    exit_function()
        except SystemExit as exc:
            if exc.code is None:
                exitcode = 0
            elif isinstance(exc.code, int):
                exitcode = exc.code
            else:
                sys.stderr.write(str(exc.code) + "\n")
                exitcode = 1
        except BaseException:
            exitcode = 1
            import traceback

            sys.stderr.write(f"Process {self.name}:\n")
            traceback.print_exc()
        finally:
            _join_non_daemon_threads()
            log.info("process exiting with exitcode %d", exitcode)
            for stream in (sys.stdout, sys.stderr):
                try:
                    if stream is not None:
                        stream.flush()
                except (AttributeError, ValueError, OSError):
                    pass
        return exitcode


# A /dev/null reader opened before forking, for the fork child to take as its
# sys.stdin: opening one in the child costs some 30 copy-on-write page faults there
# (about 0.1 ms, more than a tenth of a fork's start and join), in the parent nothing.
_spare_stdin: Any = None


def keep_spare_stdin() -> None:
    """Have a /dev/null reader ready for the next fork child's ``sys.stdin``."""
    global _spare_stdin
    if _spare_stdin is None or _spare_stdin.closed:
        _spare_stdin = open(os.devnull)  # noqa: SIM115 - kept for the children to come


def _take_spare_stdin() -> Any:
    """This process's new ``sys.stdin``: the reader kept before the fork, if any (this
    process then keeps a fresh one for its own children), else a new one."""
    global _spare_stdin
    spare, _spare_stdin = _spare_stdin, None
    if spare is None or spare.closed:
        return open(os.devnull)  # noqa: SIM115 - lives as long as the process
    return spare


def _refresh_main_thread_id() -> None:
    """After a fork, threading still reports the parent's native thread id."""
    main = threading.main_thread()
    refresh = getattr(main, "_set_native_id", None)
    if refresh is not None and main is threading.current_thread():
        refresh()


def _join_non_daemon_threads() -> None:
    main = threading.main_thread()
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not main and thread is not current and not thread.daemon:
            thread.join()


class _MainProcess(BaseProcess):
    """The process that was not started by mproc."""

    def __init__(self) -> None:
        self._identity = ()
        self._name = "MainProcess"
        self._parent_pid = None
        self._popen = None
        self._closed = False
        self._config = {"authkey": AuthenticationString(os.urandom(32)), "semprefix": "/mp"}

    def close(self) -> None:
        pass


class ParentProcess(BaseProcess):
    """A read-only view of the process that started this one."""

    def __init__(self, name: str, pid: int | None, sentinel: int | None,
                 lazy: bool = False) -> None:
        self._identity = ()
        self._name = name
        self._pid = pid
        self._parent_pid = None
        self._popen = None
        self._closed = False
        self._fd = sentinel
        self._lazy = lazy and sentinel is None and pid is not None
        self._config = {}

    @property
    def _sentinel(self) -> int | None:
        """An fd readable once the parent has exited.

        ``lazy`` (a fork child, whose parent is its parent in the kernel's eyes):
        opened on first use, not at start, where every system call and page
        touched adds to the cost of a fork."""
        if self._lazy:
            self._lazy = False
            self._fd = _open_parent_sentinel(self._pid)  # type: ignore[arg-type]
        return self._fd

    @_sentinel.setter
    def _sentinel(self, fd: int | None) -> None:
        self._lazy = False
        self._fd = fd

    @_sentinel.deleter
    def _sentinel(self) -> None:
        self._lazy = False
        self._fd = None

    def is_alive(self) -> bool:
        from ._wire.waiting import wait

        if self._sentinel is None:
            return True
        return not wait([self._sentinel], timeout=0)

    @property
    def ident(self) -> int | None:  # type: ignore[override]
        return self._pid

    pid = ident  # type: ignore[assignment]

    def join(self, timeout: float | None = None) -> None:
        from ._wire.waiting import wait

        if self._sentinel is not None:
            wait([self._sentinel], timeout=timeout)


def _open_parent_sentinel(pid: int) -> int | None:
    """A pidfd of our parent ``pid``, or a pipe already at EOF if it has gone (we
    are reparented: the pid may be another process's now)."""
    from ._launch.platform import open_pidfd

    fd = open_pidfd(pid) if os.getppid() == pid else None
    if fd is not None and os.getppid() == pid:
        return fd
    if fd is not None:
        os.close(fd)
    dead, closed = os.pipe()
    os.close(closed)
    return dead


STATE.current = _MainProcess()


def current_process() -> BaseProcess:
    """The process object of the running process."""
    return STATE.current  # type: ignore[no-any-return]


def parent_process() -> BaseProcess | None:
    """The parent's process object, or None in the main process."""
    return STATE.parent  # type: ignore[no-any-return]


def cleanup_children() -> None:
    """Forget children that have ended (reaping them)."""
    for child in list(STATE.children):
        popen = child._popen
        if popen is not None and popen.poll() is not None:
            STATE.children.discard(child)


def active_children() -> list[BaseProcess]:
    """The children of this process that are still running."""
    cleanup_children()
    return list(STATE.children)


def exit_function() -> None:
    """Orderly exit: finalizers, then daemonic children terminated, others joined."""
    set_exiting(True)
    log.info("process shutting down")
    run_finalizers(0)
    for child in active_children():
        if child.daemon:
            log.info("calling terminate() for daemon %s", child.name)
            child._popen.terminate()
    for child in active_children():
        log.info("calling join() for process %s", child.name)
        child.join()
    log.debug("running the remaining finalizers")
    run_finalizers()


atexit.register(exit_function)
