"""What a Pool and its calls are given besides a function and its input, checked.

Per-call options beyond the stdlib's: ``timeout=`` limits each call of the function;
``retries=``, ``retries_on_timeout=``
and ``memory_limit=`` make a ``RunPolicy`` that travels with each task to the
backend. The pool's own values (given to ``Pool(...)``) are the defaults of every
call, and a call's value (not None) replaces the pool's for that call only::

    Pool(retries=2, memory_limit=2**30)       pool default   RunPolicy(2, False, 1 GiB)
      pool.map(f, xs)                         -> the default
      pool.map(f, xs, retries=0)              -> RunPolicy(0, False, 1 GiB)

Bad values fail the call at once with a ValueError or TypeError that names the
argument, before any task is submitted.

A subclass's pickling: the stdlib's Pool sends every task through
``self._inqueue`` and every result through ``self._outqueue``, both made by
``_setup_queues``, so a subclass that overrides it decides how they are pickled;
joblib's MemmappingPool does, to turn large numpy arrays into memmaps of a shared
file (writes in a worker reach the parent). mproc's Pool has no shared queues (each
worker has its own pipes, which is how a dead worker fails only its own task). When
a subclass overrides the hook, ``Pool.__init__`` calls it once (``subclass_pickling``)
and uses the reducers its queues carry (``_reducers``, a ``{type: reduce}`` mapping,
as joblib's ``CustomizablePicklingQueue`` has): the in-queue's for the functions and
arguments the parent sends, the out-queue's for the results a worker sends back
(shipped to each worker when it starts). ``_quick_put``/``_quick_get`` and the
queues' pipes are never used; the pipes are closed with the pool (``close_queues``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .._backends.base import DEFAULT_POLICY, RunPolicy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._backends.base import ReducerMap, Reducers

__all__ = ["check_timeout", "make_policy", "check_backend_policy", "subclass_pickling",
           "close_queues"]


def check_timeout(timeout: float | None) -> float | None:
    """A positive number of seconds, as a float, or None."""
    if timeout is None:
        return None
    value = float(timeout)
    if not value > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    return value


def _check_retries(retries: object) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise TypeError(f"retries must be an int >= 0, not {type(retries).__name__}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, not {retries}")
    return retries


def _check_memory_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"memory_limit must be a number of bytes (int) or None, "
                        f"not {type(limit).__name__}")
    if limit <= 0:
        raise ValueError(f"memory_limit must be a positive number of bytes, not {limit}")
    return limit


def make_policy(base: RunPolicy = DEFAULT_POLICY, retries: int | None = None,
                retries_on_timeout: bool | None = None,
                memory_limit: int | None = None) -> RunPolicy:
    """``base`` with the values given (not None) replaced, checked."""
    if retries is None and retries_on_timeout is None and memory_limit is None:
        return base
    return RunPolicy(
        base.retries if retries is None else _check_retries(retries),
        base.retries_on_timeout if retries_on_timeout is None else bool(retries_on_timeout),
        base.memory_limit if memory_limit is None else _check_memory_limit(memory_limit),
    )


def check_backend_policy(policy: RunPolicy, backend: object) -> None:
    """Refuse, with the reason, what ``backend`` cannot do."""
    reason = getattr(backend, "no_memory_limit", None)
    if policy.memory_limit is not None and reason is not None:
        kind = getattr(backend, "kind", "this")
        raise ValueError(f"memory_limit= is not supported by the {kind!r} backend: {reason}")


def subclass_pickling(pool: Any) -> tuple[tuple[Any, ...], Reducers]:
    """Call a Pool subclass's ``_setup_queues``: its queues and their reducers."""
    pool._setup_queues()
    inqueue = getattr(pool, "_inqueue", None)
    outqueue = getattr(pool, "_outqueue", None)
    queues = tuple(q for q in (inqueue, outqueue) if q is not None)
    try:
        reducers = (_queue_reducers(inqueue), _queue_reducers(outqueue))
    except BaseException:
        close_queues(queues)
        raise
    return queues, reducers


def _queue_reducers(queue: Any) -> ReducerMap | None:
    """The reducers a subclass's queue pickles with (joblib: ``_reducers``), if any."""
    reducers = getattr(queue, "_reducers", None)
    if not reducers:
        return None
    if not isinstance(reducers, Mapping):
        raise TypeError(f"{type(queue).__qualname__}._reducers must be a mapping "
                        f"{{type: reduce}}, not {type(reducers).__qualname__}")
    return reducers


def close_queues(queues: tuple[Any, ...]) -> None:
    """Close the pipes of queues a subclass made, which nothing reads or writes."""
    for queue in queues:
        for name in ("_reader", "_writer"):
            conn = getattr(queue, name, None)
            try:
                conn.close()  # type: ignore[union-attr]
            except Exception:
                pass
