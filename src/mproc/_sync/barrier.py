"""Barrier, shared between processes: generations counted in shared cells.

State, in five cells changed only under the barrier's Condition:

* ``generation`` - bumped each time the barrier trips (or is reset with waiters);
* ``arrived``    - waiters of the current generation;
* ``broken``     - set by ``abort()``, a timeout or a failing action; cleared by ``reset()``;
* ``draining``   - waiters of the last finished generation that have not left yet;
* ``failed``     - whether that generation ended by ``reset()`` (they raise) or tripped.

A waiter notes the generation it joined and sleeps until the generation moves on
or the barrier breaks. While a finished generation drains, newcomers wait at the
door: the outcome of a generation is kept in one cell, so the next one must not
finish before every waiter of this one has read it. The last arriver runs the
action (holding the lock, like ``threading.Barrier``) and trips the barrier. Waits
are bounded by the timeout, if any, in both phases, so a waiter that died inside
the barrier makes the others time out instead of hanging.
"""

from __future__ import annotations

from threading import BrokenBarrierError
from time import monotonic

from .._runtime import aio
from .._serialize.spawning import assert_spawning
from .awaiting import take_steps
from .cells import Cells
from .condition import Condition
from .locks import Lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import Any

__all__ = ["Barrier", "BrokenBarrierError"]

_GENERATION, _ARRIVED, _BROKEN, _DRAINING, _FAILED = range(5)


class Barrier:
    """``parties`` processes/threads wait until all of them have called ``wait()``."""

    def __init__(self, parties: int, action: Callable[[], object] | None = None,
                 timeout: float | None = None, *, ctx: Any = None) -> None:
        if parties < 1:
            raise ValueError("parties must be >= 1")
        self._parties = parties
        self._action = action
        self._timeout = timeout
        self._cond = Condition(Lock(ctx=ctx), ctx=ctx)
        self._state = Cells(5)

    def __getstate__(self) -> tuple[int, Any, float | None, Condition, Cells]:
        assert_spawning(self)
        return (self._parties, self._action, self._timeout, self._cond, self._state)

    def __setstate__(self, state: tuple[int, Any, float | None, Condition, Cells]) -> None:
        self._parties, self._action, self._timeout, self._cond, self._state = state

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the others; return this caller's arrival index (0..parties-1)."""
        return aio.run_steps(self._wait_steps(timeout))

    async def wait_async(self, timeout: float | None = None) -> int:
        """Await ``wait()`` (``await barrier.wait_async()``: ``await`` is a keyword)."""
        return await aio.arun_steps(self._wait_steps(timeout))

    def _wait_steps(self, timeout: float | None) -> Generator[aio.Step, Any, int]:
        """The wait, as steps that block or are awaited (``mproc._runtime.aio``)."""
        if timeout is None:
            timeout = self._timeout
        deadline = None if timeout is None else monotonic() + timeout
        s = self._state
        cond = self._cond
        yield from take_steps(cond._lock, None)
        try:
            if s[_DRAINING] and not (yield from cond._wait_for_steps(
                lambda: not s[_DRAINING] or s[_BROKEN], _remaining(deadline)
            )):
                self._break()
                raise BrokenBarrierError
            if s[_BROKEN]:
                raise BrokenBarrierError
            generation = s[_GENERATION]
            index = s[_ARRIVED]
            s[_ARRIVED] = index + 1
            if index + 1 == self._parties:
                if self._action is not None:
                    try:
                        self._action()
                    except BaseException:
                        s[_ARRIVED] -= 1
                        self._break()
                        raise
                self._trip(failed=False)
                return index
            yield from cond._wait_for_steps(
                lambda: s[_GENERATION] != generation or s[_BROKEN], _remaining(deadline)
            )
            if s[_GENERATION] != generation:
                s[_DRAINING] -= 1
                if not s[_DRAINING]:
                    cond.notify_all()  # let the newcomers at the door in
                if s[_FAILED]:
                    raise BrokenBarrierError
                return index
            s[_ARRIVED] -= 1
            if not s[_BROKEN]:  # our timeout: nobody else will come in time either
                self._break()
            raise BrokenBarrierError
        finally:
            cond.release()

    def _trip(self, failed: bool) -> None:
        """End the current generation; its waiters (but a last arriver) drain out."""
        s = self._state
        s[_DRAINING] = s[_ARRIVED] - (0 if failed else 1)
        s[_ARRIVED] = 0
        s[_FAILED] = 1 if failed else 0
        s[_GENERATION] += 1
        self._cond.notify_all()

    def _break(self) -> None:
        self._state[_BROKEN] = 1
        self._cond.notify_all()

    def reset(self) -> None:
        """Back to the empty, unbroken state; current waiters get BrokenBarrierError."""
        with self._cond:
            if self._state[_ARRIVED]:
                self._trip(failed=True)
            self._state[_BROKEN] = 0
            self._cond.notify_all()

    def abort(self) -> None:
        """Break the barrier: current and future waiters get BrokenBarrierError."""
        with self._cond:
            self._break()

    @property
    def parties(self) -> int:
        """How many must call ``wait()`` for the barrier to open."""
        return self._parties

    @property
    def n_waiting(self) -> int:
        """How many are waiting in the current generation (0 while broken)."""
        if self._state[_BROKEN]:
            return 0
        return self._state[_ARRIVED]

    @property
    def broken(self) -> bool:
        """Whether the barrier is broken (``abort()``, a timeout); ``reset()`` mends it."""
        return bool(self._state[_BROKEN])

    def __repr__(self) -> str:
        if self.broken:
            return f"<{type(self).__qualname__} at {id(self):#x}: broken>"
        return (f"<{type(self).__qualname__} at {id(self):#x}: "
                f"waiters={self.n_waiting}/{self.parties}>")


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - monotonic())
