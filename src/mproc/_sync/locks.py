"""Lock, RLock, Semaphore and BoundedSemaphore over POSIX semaphores.

Semaphore and BoundedSemaphore expose the C semaphore's own ``acquire`` and
``release``: nothing to add, so nothing in the way. Lock and RLock add one thing,
recovery from a holder process that died (rules in ``owner``): ``acquire`` stores
this process's token in a shared cell after taking the semaphore (one 8-byte store,
no system call beyond the semaphore's). A blocked ``acquire`` waits in slices of
``POLL_INTERVAL`` and checks the holder between slices (``_Recovering._wait``).

Two implementations, chosen at import; ``IMPLEMENTATION`` says which:

* ``"c"``: the optional extension ``_fastlock`` (built by ``pip install`` where a
  compiler is available) provides C subclasses of the semaphore type whose
  ``acquire``/``__enter__`` (and, for RLock, ``release``/``__exit__``) do the
  try, a short poll when another process holds it, the first wait slice and the
  token store in C; only a wait longer than one slice continues in ``_wait``.
  RLock's recursion is the semaphore object's own count and last thread.
* ``"python"``: the fallback, when the extension is missing, refuses this
  interpreter's semaphore layout, or ``MPROC_PURE_PYTHON=1`` is set. Lock is still
  the C semaphore with ``acquire``/``__enter__`` in Python; RLock counts recursion
  in Python over a plain semaphore.

Either way release leaves the token (it names the last acquirer): Lock's
``release`` and ``__exit__`` are the C semaphore's, and RLock's final release
posts without touching the cell. RLock is a
plain (non-recursive kind) semaphore underneath: a recovering process must be able
to post a semaphore that a dead process took (``semlock.post_on_behalf``).

Objects reach other processes by inheritance only: fork children inherit them;
spawn and forkserver children get them pickled while they are being started
(``semlock.reduce``), and reopen the semaphore by name.
"""

from __future__ import annotations

import os
from _thread import get_ident
from time import monotonic

from .._runtime.state import STATE, register_after_fork
from . import owner as _owner
from . import semlock
from .awaiting import AsyncAcquire
from .cells import Cells

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["SemLock", "Lock", "RLock", "Semaphore", "BoundedSemaphore", "SEM_VALUE_MAX",
           "IMPLEMENTATION"]

SEM_VALUE_MAX = semlock.SEM_VALUE_MAX
_POLL = _owner.POLL_INTERVAL

# This process's holder token; read on every acquire, so a module global. Computed
# when the first lock is made (or unpickled) here, and again in forked children.
_TOKEN = 0


# The C extension's Lock and RLock bases (acquire in C, see _fastlock.c), or None:
# not built, not usable with this interpreter's SemLock, or MPROC_PURE_PYTHON set.
_FAST = semlock.fast_types(_POLL)
IMPLEMENTATION = "python" if _FAST is None else "c"
_set_c_token: Any = None if _FAST is None else _FAST[2]


def _ensure_token() -> None:
    global _TOKEN
    if not _TOKEN:
        if hasattr(os, "register_at_fork"):  # once: the token is set once per process
            os.register_at_fork(after_in_child=_refresh_token_after_fork)
        _TOKEN = _owner.current_token()
        if _set_c_token is not None:
            _set_c_token(_TOKEN)


def _refresh_token_after_fork() -> None:
    global _TOKEN
    if _TOKEN:
        _TOKEN = _owner.current_token()
        if _set_c_token is not None:
            _set_c_token(_TOKEN)


def _run_after_fork(obj: SemLock) -> None:
    obj._after_fork()  # the subclass's: an RLock also forgets its owning thread


def _is_fork_context(ctx: Any) -> bool:
    return ctx is not None and ctx.get_start_method() == "fork"


class SemLock(AsyncAcquire):
    """Base of the semaphore-backed primitives (the stdlib's class name).

    ``ctx`` is the context the object is made for; from a fork context the
    semaphore's name is removed at once (see ``semlock``). Without one, the object
    works with every start method.
    """

    _semlock: Any
    acquire: Callable[..., bool]  # bound to the C semaphore's own methods
    release: Callable[[], None]

    def __init__(self, kind: int, value: int, maxvalue: int, *, ctx: Any = None) -> None:
        self._semlock = semlock.create(kind, value, maxvalue,
                                       linked=not _is_fork_context(ctx), owner=self)
        self._make_methods()
        register_after_fork(self, _run_after_fork)

    def _make_methods(self) -> None:
        self.acquire = self._semlock.acquire
        self.release = self._semlock.release

    def _after_fork(self) -> None:
        semlock.after_fork(self._semlock)

    def __enter__(self) -> bool:
        return self._semlock.__enter__()  # type: ignore[no-any-return]

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._semlock.release()

    def __getstate__(self) -> Any:
        return semlock.reduce(self._semlock, self)

    def __setstate__(self, state: Any) -> None:
        self._semlock = semlock.rebuild(state)
        self._make_methods()
        register_after_fork(self, _run_after_fork)


class Semaphore(SemLock):
    """A counting semaphore shared between processes."""

    _bounded = False  # the maximum is the initial value (BoundedSemaphore)

    def __init__(self, value: int = 1, *, ctx: Any = None) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        maxvalue = value if self._bounded else SEM_VALUE_MAX
        SemLock.__init__(self, semlock.SEMAPHORE, value, maxvalue, ctx=ctx)

    def get_value(self) -> int:
        """The current count (how many more ``acquire()`` calls would not block)."""
        return self._semlock._get_value()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        try:
            value: object = self._semlock._get_value()
        except Exception:
            value = "unknown"
        bound = f", maxvalue={self._semlock.maxvalue}" if self._bounded else ""
        return f"<{type(self).__name__}(value={value}{bound})>"


class BoundedSemaphore(Semaphore):
    """A semaphore that refuses (ValueError) to be released above its initial value."""

    _bounded = True


_c_acquire = semlock.SemLock.acquire


class _Suspicion:
    """Whether a lock's holder is dead: the same token, its process gone, on two
    looks at least a slice apart (so a live process that has just taken the
    semaphore and not yet stored its token is not mistaken for its predecessor)."""

    __slots__ = ("holder", "since")

    def __init__(self) -> None:
        self.holder, self.since = 0, 0.0

    def dead_holder(self, lock: _Recovering) -> int:
        """The token of the holder to recover from, or 0."""
        holder = lock._cells[lock._slot]
        if not holder or _owner.holder_alive(holder):
            self.holder = 0
            return 0
        if holder != self.holder:
            self.holder, self.since = holder, monotonic()
            return 0
        return holder if monotonic() - self.since >= _POLL else 0


class _Recovering(AsyncAcquire):
    """What Lock and RLock share: the holder cell, and recovery from a dead holder.

    ``_semlock`` is the C semaphore (the object itself for Lock); calls go through
    ``_c_acquire`` so that they reach the C method, never Lock's own ``acquire``.
    """

    _semlock: Any
    _cell: Cells
    _cells: Any  # the page's memoryview
    _slot: int

    def _bind(self, cell: Cells) -> None:
        _ensure_token()
        self._cell = cell
        self._cells = cell.view
        self._slot = cell.index
        bind_cell = getattr(self, "_bind_cell", None)
        if bind_cell is not None:  # the C types: acquire stores through a pointer
            bind_cell(cell.view, cell.index)

    def _wait(self, timeout: float | None) -> bool:
        """The blocking path: wait in slices, recovering from a dead holder
        (``_Suspicion``)."""
        sem = self._semlock
        deadline = None if timeout is None else monotonic() + timeout
        step = _POLL
        suspicion = _Suspicion()
        while True:
            if deadline is not None:
                step = deadline - monotonic()
                if step <= 0:
                    return False
                if step > _POLL:
                    step = _POLL
            if _c_acquire(sem, True, step):
                self._cells[self._slot] = _TOKEN
                return True
            holder = suspicion.dead_holder(self)
            if holder and self._recover(holder):
                return True

    def _async_attempt(self) -> Callable[[], bool]:
        """The awaiting path's try: take the lock, or take over from a dead holder."""
        suspicion = _Suspicion()

        def attempt() -> bool:
            if self.acquire(False):
                return True
            holder = suspicion.dead_holder(self)
            return bool(holder) and self._recover(holder) and self._recovered()

        return attempt

    def _recovered(self) -> bool:
        """Taken over from a dead holder on the awaiting path: own it as acquire does."""
        return True

    def _recover(self, holder: int) -> bool:
        """Release on behalf of the dead ``holder``; True if we then got the lock."""
        sem = self._semlock
        with _owner.recovery_guard(self._cell.page.fd, self._cell.offset(0)):
            if self._cells[self._slot] != holder or _owner.holder_alive(holder):
                return False  # taken meanwhile, or another waiter recovered it
            self._cells[self._slot] = 0
            if not sem._is_zero():
                return False  # not held after all: the dead process released it
            semlock.post_on_behalf(sem)
            got = _c_acquire(sem, False)
            if got:
                self._cells[self._slot] = _TOKEN
        try:
            _owner.report_recovery(f"{type(self).__name__} {sem.name or hex(id(self))}", holder)
        except BaseException:  # warnings turned into errors: do not keep the lock
            if got:
                sem.release()
            raise
        return bool(got)

    def locked(self) -> bool:
        """Whether some thread of some process holds the lock right now."""
        return self._semlock._is_zero()  # type: ignore[no-any-return]

    def _holder_description(self) -> str:
        holder = self._cells[self._slot]
        if holder and _owner.token_pid(holder) != os.getpid():
            return f"pid {_owner.token_pid(holder)}"
        return "SomeOtherThread" if holder else "SomeOtherProcess"


def _this_thread_name() -> str:
    import threading

    name = str(STATE.current.name)
    thread = threading.current_thread()
    if thread is not threading.main_thread():
        name += "|" + thread.name
    return name


def _ready_lock(lock: Lock, cell: Cells) -> Lock:
    """Finish a Lock that the C type made (new, or reopened in a child)."""
    lock._bind(cell)
    register_after_fork(lock, _run_after_fork)
    return lock


def _rebuild_lock(cls: type[Lock], sem_state: tuple[int, int, str], cell: Cells) -> Lock:
    return _ready_lock(semlock.rebuild(sem_state, cls), cell)


_CSemLock: Any = semlock.SemLock
if TYPE_CHECKING:

    class _LockBase:
        """What the C semaphore under Lock offers its users (chosen at run time)."""

        def acquire(self, block: bool = True, timeout: float | None = None) -> bool: ...
        def release(self) -> None: ...
        def __enter__(self) -> bool: ...
        def __exit__(self, *args: object) -> None: ...
        def _is_mine(self) -> bool: ...
        def _is_zero(self) -> bool: ...
        def _count(self) -> int: ...
        def _get_value(self) -> int: ...
else:
    _LockBase = _CSemLock if _FAST is None else _FAST[0]


class Lock(_Recovering, _LockBase):  # type: ignore[misc]
    """A non-recursive lock shared by processes; any thread of any process may release it.

    Make one with ``mproc.Lock()`` (or ``ctx.Lock()``) and pass it to children as a
    Process argument; use ``with lock:`` or ``acquire()``/``release()``. If the process
    holding it dies, the next process waiting for it takes it over and gets a
    ``LockRecoveredWarning``: what the lock protected may be half updated.

    How: it *is* the C semaphore (a subclass of it), so ``release`` and ``__exit__`` are
    the C methods, with nothing in between. ``acquire`` and ``__enter__`` add one
    8-byte store after taking the semaphore (in C when the extension is there,
    ``IMPLEMENTATION == "c"``): this process's token, the last acquirer, which is what lets a waiter recover the lock if this process dies
    holding it. Release leaves the token in place; a stale token is harmless
    because a waiter suspects a holder only after two poll slices (``_wait``).
    Hot attributes are slots: a C subclass's ``__dict__`` lookups are slower.
    """

    __slots__ = ("_cell", "_cells", "_slot")

    def __new__(cls, *, ctx: Any = None) -> Lock:
        return _ready_lock(semlock.create(semlock.SEMAPHORE, 1, 1,
                                          linked=not _is_fork_context(ctx), cls=cls), Cells(1))

    def __init__(self, *, ctx: Any = None) -> None:
        pass  # everything happens in __new__: the C type takes its arguments there

    @property
    def _semlock(self) -> Lock:  # type: ignore[override]
        return self

    if _FAST is None:  # otherwise acquire and __enter__ are the C base's
        def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
            """Take the lock; return True once taken, False if not (``block=False`` or a timeout).

            Args:
                block: False: do not wait, only try.
                timeout: the longest to wait, in seconds (None: as long as it takes).

            If the holder process dies while this waits, this process takes the lock over
            and a ``LockRecoveredWarning`` is issued.
            """
            if _c_acquire(self, False):
                self._cells[self._slot] = _TOKEN
                return True
            if not block:
                return False
            return self._wait(timeout)

        def __enter__(self) -> bool:
            if _c_acquire(self, False):
                self._cells[self._slot] = _TOKEN
                return True
            return self._wait(None)

    # release and __exit__: the C semaphore's own.

    def _after_fork(self) -> None:
        semlock.after_fork(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_lock, (type(self), semlock.reduce(self, self), self._cell))

    # Condition's protocol
    def _is_owned(self) -> bool:
        return self._is_mine()  # type: ignore[no-any-return]

    def _release_save(self) -> None:
        self.release()

    def _acquire_restore(self, state: None) -> None:
        self.acquire()

    def __repr__(self) -> str:
        try:
            if self._is_mine():
                owner = _this_thread_name()
            elif not self._is_zero():
                owner = "None"
            else:
                owner = self._holder_description()
        except Exception:
            owner = "unknown"
        return f"<{type(self).__name__}(owner={owner})>"


def _describe_rlock(lock: Any) -> str:
    """The stdlib's RLock repr: who holds it (this thread, another thread of this
    process, another process) and how deep. ``_holding()`` gives (held by this
    thread, depth, free, held by another thread of this process)."""
    depth: object
    try:
        mine, count, free, here = lock._holding()
        if mine:
            owner, depth = _this_thread_name(), count
        elif free:
            owner, depth = "None", 0
        elif here:
            owner, depth = "SomeOtherThread", "nonzero"
        else:
            owner, depth = lock._holder_description(), "nonzero"
    except Exception:
        owner, depth = "unknown", "unknown"
    return f"<{type(lock).__name__}({owner}, {depth})>"


class _PyRLock(_Recovering, SemLock):
    """A recursive lock: the thread that holds it may take it again (pure Python)."""

    _owner_thread: int | None = None
    _depth = 0

    def __init__(self, *, ctx: Any = None) -> None:
        SemLock.__init__(self, semlock.SEMAPHORE, 1, 1, ctx=ctx)
        self._bind(Cells(1))

    def _make_methods(self) -> None:
        self._try = self._semlock.acquire
        self._post = self._semlock.release

    def _recovered(self) -> bool:
        self._owner_thread = get_ident()
        self._depth = 1
        return True

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take the lock, or take it once more if this thread already owns it.

        Args:
            block: False: do not wait, only try.
            timeout: the longest to wait, in seconds (None: as long as it takes).

        Returns True once taken, False if not. A holder process that died is taken
        over, with a ``LockRecoveredWarning``.
        """
        me = get_ident()
        if self._owner_thread == me:
            self._depth += 1
            return True
        if self._try(False):
            self._cells[self._slot] = _TOKEN
        elif not block or not self._wait(timeout):
            return False
        self._owner_thread = me
        self._depth = 1
        return True

    __enter__ = acquire

    def release(self) -> None:
        """Release one level of ownership; the lock is free once released as often as taken.

        Raises:
            AssertionError: this thread does not own the lock (as the stdlib).
        """
        if self._owner_thread != get_ident():
            raise AssertionError("attempt to release recursive lock not owned by thread")
        depth = self._depth - 1
        if depth:
            self._depth = depth
            return
        self._depth = 0
        self._owner_thread = None
        self._post()  # the token stays: it names the last acquirer, as for Lock

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.release()

    def _after_fork(self) -> None:
        SemLock._after_fork(self)
        self._owner_thread = None
        self._depth = 0

    # Condition's protocol
    def _is_owned(self) -> bool:
        return self._owner_thread == get_ident()

    def _release_save(self) -> int:
        if self._owner_thread != get_ident():
            raise AssertionError("attempt to release recursive lock not owned by thread")
        depth = self._depth
        self._depth = 1
        self.release()
        return depth

    def _acquire_restore(self, depth: int) -> None:
        self.acquire()
        self._depth = depth

    def _count(self) -> int:
        return self._depth if self._owner_thread == get_ident() else 0

    def _holding(self) -> tuple[bool, int, bool, bool]:
        mine = self._owner_thread == get_ident()
        return (mine, self._depth, not self._semlock._is_zero(),
                self._owner_thread is not None)

    __repr__ = _describe_rlock

    def __getstate__(self) -> Any:
        return (semlock.reduce(self._semlock, self), self._cell)

    def __setstate__(self, state: Any) -> None:
        sem_state, cell = state
        SemLock.__setstate__(self, sem_state)
        self._bind(cell)
        self._owner_thread = None
        self._depth = 0


class _CRLock(_Recovering, _CSemLock if _FAST is None else _FAST[1]):  # type: ignore[misc]
    """A recursive lock: the thread that holds it may take it again.

    Like Lock, it *is* the C semaphore (the extension's RLock type, over a plain
    semaphore of maximum 1): ``acquire``, ``__enter__``, ``release`` and ``__exit__``
    are C. The recursion depth and owning thread are the semaphore object's own
    count and last thread (so ``_is_mine`` is the C method); the final release
    leaves the holder token, as Lock's does.
    """

    __slots__ = ("_cell", "_cells", "_slot")

    def __new__(cls, *, ctx: Any = None) -> _CRLock:
        return _ready_lock(semlock.create(semlock.SEMAPHORE, 1, 1,  # type: ignore[return-value]
                                          linked=not _is_fork_context(ctx), cls=cls), Cells(1))

    def __init__(self, *, ctx: Any = None) -> None:
        pass

    @property
    def _semlock(self) -> _CRLock:  # type: ignore[override]
        return self

    def _after_fork(self) -> None:
        semlock.after_fork(self)  # the count (the depth) is this process's: now 0

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_lock, (type(self), semlock.reduce(self, self), self._cell))

    def _count(self) -> int:
        return _CSemLock._count(self) if self._is_mine() else 0  # type: ignore[no-any-return]

    @property
    def _depth(self) -> int:
        return self._count()

    # Condition's protocol
    def _is_owned(self) -> bool:
        return self._is_mine()  # type: ignore[no-any-return]

    def _release_save(self) -> int:
        depth = self._count()
        if not depth:
            raise AssertionError("attempt to release recursive lock not owned by thread")
        for _level in range(depth):
            self.release()
        return depth

    def _acquire_restore(self, depth: int) -> None:
        self.acquire()
        for _level in range(depth - 1):
            self.acquire()

    def _holding(self) -> tuple[bool, int, bool, bool]:
        depth = _CSemLock._count(self)
        return self._is_mine(), depth, not self._is_zero(), depth > 0

    __repr__ = _describe_rlock


if TYPE_CHECKING:

    class RLock(_PyRLock):
        """A recursive lock: the thread that holds it may acquire it again, and must
        release it as many times; released by a waiter if its holder process dies."""
else:
    RLock = _PyRLock if _FAST is None else _CRLock
    RLock.__name__ = RLock.__qualname__ = "RLock"
