"""mproc's pickler: the kept per-thread pickler behind dumps()."""

from __future__ import annotations

import gc
import pickle
import threading
import weakref

import pytest

from mproc._serialize.pickler import dumps


class _Nested:
    """Pickles by calling dumps() again, as a reducer that pre-pickles a part does."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __reduce__(self) -> tuple[object, ...]:
        return pickle.loads, (dumps(("inner", self.value)),)


class _Refuses:
    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("no pickling for you")


class _Plain:
    pass


def test_nested_dumps_in_a_reducer() -> None:
    assert pickle.loads(dumps(["outer", _Nested(42)])) == ["outer", ("inner", 42)]


def test_a_failed_dump_leaves_the_pickler_clean() -> None:
    with pytest.raises(TypeError, match="no pickling"):
        dumps(["a" * 1000, _Refuses()])
    assert pickle.loads(dumps((1, 2))) == (1, 2)  # nothing of the failed message left


def test_the_kept_pickler_holds_no_reference_to_what_it_pickled() -> None:
    obj = _Plain()
    ref = weakref.ref(obj)
    dumps([obj, obj])
    del obj
    gc.collect()
    assert ref() is None


def test_threads_each_get_their_own_pickler() -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(2000):
                value = (n, i, "x" * (i % 50))
                assert pickle.loads(dumps(value)) == value
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)


def test_lambdas_still_cross_by_value() -> None:
    offset = 5
    assert pickle.loads(dumps(lambda x: x + offset))(1) == 6
