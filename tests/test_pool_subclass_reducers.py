"""A Pool subclass that overrides ``_setup_queues`` decides how tasks and results are
pickled, as with the stdlib's Pool: the reducers its in-queue carries pickle what the
parent sends (functions and arguments), those of its out-queue what a worker sends
back. joblib's MemmappingPool relies on it (large arrays become memmaps); here a tiny
subclass of our own, with reducers that leave a trail in the values they pickle.
"""

from __future__ import annotations

import functools
import os

import pytest

import mproc
import mproc.pool
from mproc import errors
from mproc._pool.front import Pool

TIMEOUT = 30


class Tagged:
    """A value that records which reducers pickled it on its way."""

    def __init__(self, value: int, trail: tuple[str, ...] = ()) -> None:
        self.value = value
        self.trail = trail


def rebuild(value: int, trail: tuple[str, ...]) -> Tagged:
    return Tagged(value, trail)


def forward_reduce(obj: Tagged) -> tuple[object, tuple[object, ...]]:
    return rebuild, (obj.value, (*obj.trail, "forward"))


def backward_reduce(obj: Tagged) -> tuple[object, tuple[object, ...]]:
    return rebuild, (obj.value, (*obj.trail, "backward"))


def refuse(obj: Tagged) -> tuple[object, tuple[object, ...]]:
    raise ValueError(f"refused to pickle {obj.value}")


class ReducingQueue:
    """Stands for joblib's CustomizablePicklingQueue: the reducers it pickles with, and
    a pipe that mproc never uses (and must close with the pool)."""

    def __init__(self, ctx: mproc.context.BaseContext, reducers: dict[type, object]) -> None:
        self._reducers = reducers
        self._reader, self._writer = ctx.Pipe(duplex=False)

    def put(self, obj: object) -> None:  # what the stdlib's task handler would call
        raise AssertionError("mproc's Pool must not write to the subclass's queues")


class ReducingPool(mproc.pool.Pool):
    setups = 0
    forward: dict[type, object] = {Tagged: forward_reduce}
    backward: dict[type, object] = {Tagged: backward_reduce}

    def _setup_queues(self) -> None:
        type(self).setups += 1
        self._inqueue = ReducingQueue(self._ctx, self.forward)
        self._outqueue = ReducingQueue(self._ctx, self.backward)
        self._quick_put = self._inqueue.put
        self._quick_get = None


class RefusingResults(ReducingPool):
    backward = {Tagged: refuse}


class RefusingArguments(ReducingPool):
    forward = {Tagged: refuse}


# -- task functions (module level: importable under spawn and forkserver) ------------


def step(obj: Tagged) -> Tagged:
    return Tagged(obj.value + 1, (*obj.trail, "worker"))


def combine(base: Tagged, obj: Tagged) -> Tagged:
    return Tagged(base.value + obj.value, (*base.trail, "|", *obj.trail, "worker"))


def die_on(obj: Tagged) -> Tagged:
    if obj.value == 1:
        os._exit(3)
    return step(obj)


def make_pool(cls: type[Pool], start_method: str, processes: int = 2) -> Pool:
    return cls(processes, context=mproc.get_context(start_method))


def close(pool: Pool) -> None:
    pool.terminate()
    pool.join()


def test_forward_and_backward_reducers(start_method: str) -> None:
    pool = make_pool(ReducingPool, start_method)
    try:
        done = pool.apply_async(step, (Tagged(1),)).get(TIMEOUT)
        assert (done.value, done.trail) == (2, ("forward", "worker", "backward"))
        mapped = pool.map_async(step, [Tagged(i) for i in range(5)], chunksize=2).get(TIMEOUT)
        assert [(t.value, t.trail) for t in mapped] == [
            (i + 1, ("forward", "worker", "backward")) for i in range(5)]
        lazy = pool.imap_unordered(step, [Tagged(i) for i in range(3)])
        assert sorted(t.value for t in lazy) == [1, 2, 3]
        # The function travels with the forward reducers too (joblib sends its
        # arrays inside the callable: a batch of calls).
        func = functools.partial(combine, Tagged(10))
        got = pool.apply_async(func, (Tagged(1),)).get(TIMEOUT)
        assert (got.value, got.trail) == (11, ("forward", "|", "forward", "worker", "backward"))
    finally:
        close(pool)


def test_hook_runs_once_per_pool_and_plain_pools_are_untouched() -> None:
    before = ReducingPool.setups
    special = make_pool(ReducingPool, "fork", 1)
    plain = make_pool(Pool, "fork", 1)
    try:
        assert ReducingPool.setups == before + 1
        assert isinstance(special._inqueue, ReducingQueue)
        assert plain._backend.reducers is None  # type: ignore[union-attr]
        # Alternate between the two in one thread: no reducer leaks across pools.
        for _ in range(2):
            got = special.apply_async(step, (Tagged(0),)).get(TIMEOUT)
            assert got.trail == ("forward", "worker", "backward")
            got = plain.apply_async(step, (Tagged(0),)).get(TIMEOUT)
            assert got.trail == ("worker",)
        assert ReducingPool.setups == before + 1  # not per task
    finally:
        close(special)
        close(plain)


def test_the_base_hook_makes_nothing() -> None:
    assert Pool._setup_queues(object.__new__(Pool)) is None  # type: ignore[func-returns-value]


def test_dead_worker_fails_only_its_task(start_method: str) -> None:
    pool = make_pool(ReducingPool, start_method)
    try:
        results = [pool.apply_async(die_on, (Tagged(i),)) for i in range(4)]
        with pytest.raises(errors.WorkerLostError):
            results[1].get(TIMEOUT)
        for i in (0, 2, 3):
            got = results[i].get(TIMEOUT)
            assert (got.value, got.trail) == (i + 1, ("forward", "worker", "backward"))
        again = pool.apply_async(step, (Tagged(7),)).get(TIMEOUT)
        assert again.trail == ("forward", "worker", "backward")
    finally:
        close(pool)


def test_a_refusing_backward_reducer_fails_that_task() -> None:
    pool = make_pool(RefusingResults, "fork", 1)
    try:
        with pytest.raises(errors.MaybeEncodingError, match="refused to pickle 4"):
            pool.apply_async(step, (Tagged(3),)).get(TIMEOUT)
        assert pool.apply_async(abs, (-5,)).get(TIMEOUT) == 5
    finally:
        close(pool)


def test_a_refusing_forward_reducer_fails_that_task() -> None:
    pool = make_pool(RefusingArguments, "fork", 1)
    try:
        with pytest.raises(ValueError, match="refused to pickle 3"):
            pool.apply_async(step, (Tagged(3),)).get(TIMEOUT)
        assert pool.apply_async(abs, (-5,)).get(TIMEOUT) == 5
    finally:
        close(pool)


def test_the_subclass_queues_are_closed_with_the_pool() -> None:
    pool = make_pool(ReducingPool, "fork", 1)
    queues = (pool._inqueue, pool._outqueue)
    assert not any(q._reader.closed or q._writer.closed for q in queues)
    close(pool)
    assert all(q._reader.closed and q._writer.closed for q in queues)


def test_private_names_joblib_reads() -> None:
    pool = make_pool(ReducingPool, "fork", 2)
    try:
        assert pool._state == mproc.pool.RUN
        assert pool._processes == 2
        assert len(pool._pool) == 2 and all(p.is_alive() for p in pool._pool)
        assert pool._ctx.get_start_method() == "fork"
        workers = list(pool._pool)
    finally:
        pool.terminate()  # joblib: MemmappingPool.terminate -> super().terminate()
        pool.join()
    assert pool._state == mproc.pool.TERMINATE
    assert not any(p.is_alive() for p in workers)
