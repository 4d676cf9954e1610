"""The one binding to the C semaphore: ``_multiprocessing.SemLock``.

Nothing else in mproc imports ``_multiprocessing``. The rest of ``_sync`` calls the
objects made here (``acquire``, ``release``, ``_is_mine``...) and asks this module
to create, pickle and reopen them.

A semaphore is a named POSIX semaphore (``/dev/shm/sem.<name>`` on Linux). Its
name decides how it reaches other processes:

* made for a *fork* context, the name is removed at once: children inherit the
  mapping, nothing can leak, and nothing can reopen it. Handing such a semaphore to
  a spawn or forkserver child is an error, reported when the child is started;
* otherwise the name stays linked so that spawn and forkserver children can reopen
  it while they unpickle their process object. The creator removes it when its
  object is collected, or at exit after its children have been joined (exit
  priority -10, below the joins); the resource tracker removes it if the creator
  dies first. Every object pickled for a child is also kept alive as long as that
  child's launcher, so the name cannot vanish while the child is still starting.

Names are ``<semprefix>-<pid>-<8 hex digits>`` (``semprefix`` is ``/mp``), so a
leftover entry says which process made it.
"""

from __future__ import annotations

import _multiprocessing
import os
import weakref

from .._runtime.finalize import Finalize
from .._runtime.state import STATE
from .._serialize.spawning import assert_spawning, spawning_launcher
from .._shm import tracker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SemLock",
    "RECURSIVE_MUTEX",
    "SEMAPHORE",
    "SEM_VALUE_MAX",
    "RTYPE",
    "create",
    "reduce",
    "rebuild",
    "unlink",
    "post_on_behalf",
    "after_fork",
    "fast_types",
]

SemLock = _multiprocessing.SemLock
RECURSIVE_MUTEX = 0
SEMAPHORE = 1
SEM_VALUE_MAX: int = SemLock.SEM_VALUE_MAX
RTYPE = "semaphore"
_ATTEMPTS = 100


def unlink(name: str) -> None:
    """Remove the semaphore called ``name`` (the tracker's cleanup for "semaphore")."""
    _multiprocessing.sem_unlink(name)


tracker.register_cleanup(RTYPE, unlink)


def _prefix() -> str:
    config = getattr(STATE.current, "_config", None) or {}
    return f"{config.get('semprefix', '/mp')}-{os.getpid()}-"


def create(kind: int, value: int, maxvalue: int, *, linked: bool, owner: object = None,
           cls: type = SemLock) -> Any:
    """A new semaphore of type ``cls`` (SemLock or a subclass).

    ``linked`` keeps its name until ``owner`` (default: the semaphore) is collected.
    """
    prefix = _prefix()
    for _attempt in range(_ATTEMPTS):
        name = prefix + os.urandom(4).hex()
        try:
            sem = SemLock.__new__(cls, kind, value, maxvalue, name, not linked)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"no free semaphore name found after {_ATTEMPTS} attempts")
    if linked:
        try:
            tracker.register(name, RTYPE)
        except BaseException:
            unlink(name)
            raise
        Finalize(sem if owner is None else owner, _remove_name, args=(name,), exitpriority=-10)
    return sem


def _remove_name(name: str) -> None:
    try:
        unlink(name)
    except FileNotFoundError:
        pass
    tracker.unregister(name, RTYPE)


# id(launcher) -> objects pickled for that launcher's child; see the module docstring.
_pinned: dict[int, list[object]] = {}


def _pin(launcher: object, obj: object) -> None:
    key = id(launcher)
    held = _pinned.get(key)
    if held is None:
        held = _pinned[key] = []
        try:
            weakref.finalize(launcher, _pinned.pop, key, None)
        except TypeError:  # not weak-referenceable: cannot know when to let go
            del _pinned[key]
            return
    held.append(obj)


def reduce(sem: Any, owner: object) -> tuple[int, int, str]:
    """The picklable state of ``sem``; only while a child process is being started."""
    launcher = spawning_launcher()
    if launcher is None:
        assert_spawning(owner)
    name = sem.name
    if name is None:
        method = getattr(launcher, "method", None) or "different"
        raise RuntimeError(
            f"A SemLock created in a fork context is being shared with a process in a "
            f"{method} context: its name was removed when it was created, so the child "
            f"cannot open it. Create it from the same context as the Process, e.g. "
            f"mproc.get_context({method!r}).Lock()."
        )
    _pin(launcher, owner)
    return (sem.kind, sem.maxvalue, name)


def rebuild(state: tuple[int, int, str], cls: type = SemLock) -> Any:
    """Reopen, in a child, the semaphore described by ``reduce``'s state, as a ``cls``."""
    kind, maxvalue, name = state
    return cls._rebuild(0, kind, maxvalue, name)  # type: ignore[attr-defined]


_sem_post: Any = None


def post_on_behalf(sem: Any) -> None:
    """Post ``sem`` for a holder that died, without counting it as a release of ours.

    ``sem.release()`` would lower this process's acquisition count (which
    ``_is_mine`` reads) for a post it does not own; libc's ``sem_post`` on the same
    handle leaves that count alone. Rare (lock recovery only), so ctypes is
    imported here, on first use.
    """
    global _sem_post
    if _sem_post is None:
        import ctypes

        func = ctypes.CDLL(None, use_errno=True).sem_post
        func.argtypes = [ctypes.c_void_p]
        func.restype = ctypes.c_int
        _sem_post = func
    if _sem_post(sem.handle) != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def after_fork(sem: Any) -> None:
    """In a forked child: this process holds none of it (the parent might).

    The C method itself: ``sem`` may be a subclass (Lock) whose own ``_after_fork``
    calls this function.
    """
    SemLock._after_fork(sem)


def fast_types(poll_interval: float) -> tuple[type, type, Any] | None:
    """The C extension's Lock and RLock bases over ``SemLock``, and its token setter.

    None when ``MPROC_PURE_PYTHON`` is set (to anything but "" or "0"), when the
    optional extension was not built, or when it finds that this interpreter's
    ``SemLock`` is not laid out as it expects (it checks before it binds anything).
    """
    if os.environ.get("MPROC_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from . import _fastlock  # type: ignore[attr-defined]

        lock, rlock = _fastlock.init(SemLock, poll_interval)
    except Exception:  # ImportError (not built) or a layout it does not know
        return None
    return lock, rlock, _fastlock.set_token
