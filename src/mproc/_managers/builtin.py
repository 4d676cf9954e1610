"""The proxy types and shared types a SyncManager serves."""

from __future__ import annotations

import types

from .._serialize.pickler import register
from .proxies import BaseProxy, MakeProxyType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import (
        Callable,
        ItemsView,
        Iterable,
        Iterator,
        KeysView,
        Mapping,
        MutableMapping,
        MutableSequence,
        MutableSet,
        ValuesView,
    )
    from collections.abc import Set as AbstractSet
    from typing import Any, Generic, SupportsIndex, TypeVar, overload

    _T = TypeVar("_T")
    _S = TypeVar("_S")
    _R = TypeVar("_R")
    _K = TypeVar("_K")
    _V = TypeVar("_V")

__all__ = [
    "Namespace",
    "Value",
    "Array",
    "IteratorProxy",
    "AcquirerProxy",
    "ConditionProxy",
    "EventProxy",
    "BarrierProxy",
    "NamespaceProxy",
    "ValueProxy",
    "BaseListProxy",
    "ListProxy",
    "DictProxy",
    "ArrayProxy",
    "SetProxy",
    "BasePoolProxy",
    "PoolProxy",
]


def _view_as_list(view: Any) -> Any:
    return list, (list(view),)


# keys()/values()/items() of a managed dict reach the client as lists.
_DICT_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
for _view in _DICT_VIEWS:
    register(_view, _view_as_list)


class Namespace:
    """A bag of attributes (the server-side object behind Manager().Namespace())."""

    def __init__(self, /, **kwds: Any) -> None:
        self.__dict__.update(kwds)

    def __repr__(self) -> str:
        items = [f"{k}={v!r}" for k, v in self.__dict__.items() if not k.startswith("_")]
        return f"{type(self).__name__}({', '.join(sorted(items))})"


class Value:
    """A plain value holder (Manager().Value)."""

    def __init__(self, typecode: Any, value: Any, lock: Any = True) -> None:
        self._typecode = typecode
        self._value = value

    def get(self) -> Any:
        """The value."""
        return self._value

    def set(self, value: Any) -> None:
        """Replace the value."""
        self._value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._typecode!r}, {self._value!r})"

    value = property(get, set)


def Array(typecode: str, sequence: Any, lock: Any = True) -> Any:  # noqa: N802 - stdlib name
    import array

    return array.array(typecode, sequence)


class IteratorProxy(BaseProxy):
    """A proxy of an iterator in a manager's process (a proxied dict's ``iter()``)."""
    _exposed_ = ("__next__", "send", "throw", "close")

    def __iter__(self) -> IteratorProxy:
        return self

    def __next__(self, *args: Any) -> Any:
        return self._callmethod("__next__", args)

    def send(self, *args: Any) -> Any:
        return self._callmethod("send", args)

    def throw(self, *args: Any) -> Any:
        return self._callmethod("throw", args)

    def close(self, *args: Any) -> Any:
        return self._callmethod("close", args)


class AcquirerProxy(BaseProxy):
    """A proxy of a lock or semaphore in a manager's process (``manager.Lock()``)."""
    _exposed_: tuple[str, ...] = ("acquire", "release", "locked")

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> Any:
        """Acquire the lock in the manager (``timeout`` in seconds); True if acquired."""
        args = (blocking,) if timeout is None else (blocking, timeout)
        return self._callmethod("acquire", args)

    def release(self) -> Any:
        """Release the lock in the manager."""
        return self._callmethod("release")

    def locked(self) -> Any:
        """Whether the lock is held."""
        return self._callmethod("locked")

    def __enter__(self) -> Any:
        return self._callmethod("acquire")

    def __exit__(self, *exc: object) -> Any:
        return self._callmethod("release")


class ConditionProxy(AcquirerProxy):
    """A proxy of a condition variable in a manager's process (``manager.Condition()``)."""
    _exposed_ = ("acquire", "release", "locked", "wait", "notify", "notify_all")

    def wait(self, timeout: float | None = None) -> Any:
        """Wait to be notified, at most ``timeout`` seconds; False on timeout."""
        return self._callmethod("wait", (timeout,))

    def notify(self, n: int = 1) -> Any:
        """Wake up to ``n`` waiting processes."""
        return self._callmethod("notify", (n,))

    def notify_all(self) -> Any:
        """Wake up every waiting process."""
        return self._callmethod("notify_all")

    def wait_for(self, predicate: Any, timeout: float | None = None) -> Any:
        """Wait until ``predicate()`` is true (re-checked after each wake-up)."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while not (outcome := predicate()):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            self.wait(remaining)
        return outcome


class EventProxy(BaseProxy):
    """A proxy of an event in a manager's process (``manager.Event()``)."""
    _exposed_ = ("is_set", "set", "clear", "wait")

    def is_set(self) -> Any:
        """Whether the event is set."""
        return self._callmethod("is_set")

    def set(self) -> Any:
        """Set the event, waking every waiter."""
        return self._callmethod("set")

    def clear(self) -> Any:
        """Reset the event."""
        return self._callmethod("clear")

    def wait(self, timeout: float | None = None) -> Any:
        """Wait until the event is set, at most ``timeout`` seconds; its state."""
        return self._callmethod("wait", (timeout,))


class BarrierProxy(BaseProxy):
    """A proxy of a barrier in a manager's process (``manager.Barrier(n)``)."""
    _exposed_ = ("__getattribute__", "wait", "abort", "reset")

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for every party, at most ``timeout`` seconds; this party's index."""
        return self._callmethod("wait", (timeout,))

    def abort(self) -> Any:
        """Put the barrier in the broken state."""
        return self._callmethod("abort")

    def reset(self) -> Any:
        """Return the barrier to its initial state."""
        return self._callmethod("reset")

    @property
    def parties(self) -> Any:
        return self._callmethod("__getattribute__", ("parties",))

    @property
    def n_waiting(self) -> Any:
        return self._callmethod("__getattribute__", ("n_waiting",))

    @property
    def broken(self) -> Any:
        return self._callmethod("__getattribute__", ("broken",))


class NamespaceProxy(BaseProxy):
    """A proxy of a Namespace: attribute access is forwarded (``manager.Namespace()``)."""
    _exposed_ = ("__getattribute__", "__setattr__", "__delattr__")

    def __getattr__(self, key: str) -> Any:
        if key[0] == "_":
            return object.__getattribute__(self, key)
        callmethod = object.__getattribute__(self, "_callmethod")
        return callmethod("__getattribute__", (key,))

    def __setattr__(self, key: str, value: Any) -> None:
        if key[0] == "_":
            object.__setattr__(self, key, value)
            return
        callmethod = object.__getattribute__(self, "_callmethod")
        callmethod("__setattr__", (key, value))

    def __delattr__(self, key: str) -> None:
        if key[0] == "_":
            object.__delattr__(self, key)
            return
        callmethod = object.__getattribute__(self, "_callmethod")
        callmethod("__delattr__", (key,))


BaseListProxy = MakeProxyType("BaseListProxy", (
    "__add__", "__contains__", "__delitem__", "__getitem__", "__len__", "__mul__",
    "__reversed__", "__rmul__", "__setitem__", "append", "count", "extend", "index",
    "insert", "pop", "remove", "reverse", "sort", "__imul__", "clear", "copy"))

_DictBase = MakeProxyType("DictProxy", (
    "__contains__", "__delitem__", "__getitem__", "__iter__", "__len__", "__setitem__",
    "clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update",
    "values", "__ior__", "__or__", "__ror__"))


if TYPE_CHECKING:
    # What checkers see: the proxies behave as the list and dict they stand for.
    # (At run time the methods are made by MakeProxyType and forward each call.)

    class ListProxy(BaseProxy, MutableSequence[_T]):
        """A proxy of a list in a manager's process (``manager.list()``)."""

        @overload
        def __getitem__(self, index: SupportsIndex, /) -> _T: ...
        @overload
        def __getitem__(self, index: slice, /) -> list[_T]: ...
        def __getitem__(self, index: SupportsIndex | slice, /) -> _T | list[_T]: ...
        @overload
        def __setitem__(self, index: SupportsIndex, value: _T, /) -> None: ...
        @overload
        def __setitem__(self, index: slice, value: Iterable[_T], /) -> None: ...
        def __setitem__(self, index: SupportsIndex | slice, value: Any, /) -> None: ...
        def __delitem__(self, index: SupportsIndex | slice, /) -> None: ...
        def __len__(self) -> int: ...
        def insert(self, index: SupportsIndex, value: _T, /) -> None: ...
        def __add__(self, value: list[_T], /) -> list[_T]: ...
        def __mul__(self, value: SupportsIndex, /) -> list[_T]: ...
        def __rmul__(self, value: SupportsIndex, /) -> list[_T]: ...
        def __iadd__(self, value: Iterable[_T], /) -> ListProxy[_T]: ...
        def __imul__(self, value: SupportsIndex, /) -> ListProxy[_T]: ...
        def sort(self, *, key: Any = None, reverse: bool = False) -> None: ...
        def copy(self) -> list[_T]: ...

    class DictProxy(BaseProxy, MutableMapping[_K, _V]):
        """A proxy of a dict in a manager's process (``manager.dict()``)."""

        def __getitem__(self, key: _K, /) -> _V: ...
        def __setitem__(self, key: _K, value: _V, /) -> None: ...
        def __delitem__(self, key: _K, /) -> None: ...
        def __iter__(self) -> Iterator[_K]: ...
        def __len__(self) -> int: ...
        def copy(self) -> dict[_K, _V]: ...
        def keys(self) -> KeysView[_K]: ...
        def values(self) -> ValuesView[_V]: ...
        def items(self) -> ItemsView[_K, _V]: ...
        def __or__(self, value: Mapping[_K, _V], /) -> dict[_K, _V]: ...
        def __ror__(self, value: Mapping[_K, _V], /) -> dict[_K, _V]: ...
        def __ior__(self, value: Mapping[_K, _V], /) -> DictProxy[_K, _V]: ...  # type: ignore[misc,override]

    class ValueProxy(BaseProxy, Generic[_T]):
        """A proxy of a value in a manager's process (``manager.Value(typecode, v)``)."""

        def get(self) -> _T:
            """The value."""
            ...

        def set(self, value: _T) -> None:
            """Replace the value."""
            ...

        @property
        def value(self) -> _T:
            """The value; assigning replaces it."""
            ...

        @value.setter
        def value(self, value: _T) -> None: ...

else:

    class ValueProxy(BaseProxy):
        """A proxy of a value in a manager's process (``manager.Value(typecode, v)``)."""

        _exposed_ = ("get", "set")

        def get(self) -> Any:
            return self._callmethod("get")

        def set(self, value: Any) -> Any:
            return self._callmethod("set", (value,))

        value = property(get, set)

        __class_getitem__ = classmethod(types.GenericAlias)

    class ListProxy(BaseListProxy):
        """A proxy of a list in a manager's process (``manager.list()``)."""

        def __iadd__(self, value: Any) -> ListProxy:
            self._callmethod("extend", (value,))
            return self

        def __imul__(self, value: Any) -> ListProxy:
            self._callmethod("__imul__", (value,))
            return self

        __class_getitem__ = classmethod(types.GenericAlias)

    class DictProxy(_DictBase):
        """A proxy of a dict in a manager's process (``manager.dict()``)."""

        _method_to_typeid_ = {"__iter__": "Iterator"}

        def __ior__(self, value: Any) -> DictProxy:
            self._callmethod("update", (value,))
            return self

        __class_getitem__ = classmethod(types.GenericAlias)


if TYPE_CHECKING:

    class ArrayProxy(BaseProxy, Generic[_T]):
        """A proxy of an array in a manager's process (``manager.Array(typecode, seq)``)."""

        def __len__(self) -> int: ...
        @overload
        def __getitem__(self, index: int, /) -> _T: ...
        @overload
        def __getitem__(self, index: slice, /) -> list[_T]: ...
        def __getitem__(self, index: int | slice, /) -> _T | list[_T]: ...
        def __setitem__(self, index: int, value: _T, /) -> None: ...

else:
    ArrayProxy = MakeProxyType("ArrayProxy", ("__len__", "__getitem__", "__setitem__"))
    ArrayProxy.__class_getitem__ = classmethod(types.GenericAlias)

if TYPE_CHECKING:

    class _SetBase(BaseProxy, MutableSet[Any]):
        """What checkers see of a proxied set: the set's methods."""

        def __contains__(self, value: object, /) -> bool: ...
        def __iter__(self) -> Iterator[Any]: ...
        def __len__(self) -> int: ...
        def add(self, value: Any, /) -> None: ...
        def discard(self, value: Any, /) -> None: ...
        def copy(self) -> set[Any]: ...
        def union(self, *others: Iterable[Any]) -> set[Any]: ...
        def intersection(self, *others: Iterable[Any]) -> set[Any]: ...
        def difference(self, *others: Iterable[Any]) -> set[Any]: ...
        def symmetric_difference(self, other: Iterable[Any], /) -> set[Any]: ...
        def update(self, *others: Iterable[Any]) -> None: ...
        def issubset(self, other: Iterable[Any], /) -> bool: ...
        def issuperset(self, other: Iterable[Any], /) -> bool: ...
        def __or__(self, value: AbstractSet[Any], /) -> AbstractSet[Any]: ...
        def __xor__(self, value: AbstractSet[Any], /) -> AbstractSet[Any]: ...

else:
    _SetBase = MakeProxyType("_BaseSetProxy", (
        "__and__", "__contains__", "__iand__", "__ior__", "__isub__", "__iter__", "__ixor__",
        "__len__", "__or__", "__rand__", "__ror__", "__rsub__", "__rxor__", "__sub__",
        "__xor__", "__ge__", "__gt__", "__le__", "__lt__", "add", "clear", "copy",
        "difference", "difference_update", "discard", "intersection",
        "intersection_update", "isdisjoint", "issubset", "issuperset", "pop", "remove",
        "symmetric_difference", "symmetric_difference_update", "union", "update"))


class SetProxy(_SetBase):
    """A proxy of a set in a manager's process (``manager.set()``)."""

    _method_to_typeid_ = {"__iter__": "Iterator"}

    def __ior__(self, value: AbstractSet[Any]) -> SetProxy:
        self._callmethod("__ior__", (value,))
        return self

    def __iand__(self, value: AbstractSet[Any]) -> SetProxy:
        self._callmethod("__iand__", (value,))
        return self

    def __ixor__(self, value: AbstractSet[Any]) -> SetProxy:
        self._callmethod("__ixor__", (value,))
        return self

    def __isub__(self, value: AbstractSet[Any]) -> SetProxy:
        self._callmethod("__isub__", (value,))
        return self


if TYPE_CHECKING:

    class BasePoolProxy(BaseProxy):
        """What checkers see of a proxied Pool: the Pool's methods, run in the manager."""

        def apply(self, func: Callable[..., _R], args: Iterable[Any] = (),
                  kwds: Mapping[str, Any] = ...) -> _R: ...
        def apply_async(self, func: Callable[..., Any], args: Iterable[Any] = (),
                        kwds: Mapping[str, Any] = ...) -> Any: ...
        def map(self, func: Callable[[_S], _R], iterable: Iterable[_S],
                chunksize: int | None = None) -> list[_R]: ...
        def map_async(self, func: Callable[[Any], Any], iterable: Iterable[Any],
                      chunksize: int | None = None) -> Any: ...
        def starmap(self, func: Callable[..., _R], iterable: Iterable[Iterable[Any]],
                    chunksize: int | None = None) -> list[_R]: ...
        def starmap_async(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                          chunksize: int | None = None) -> Any: ...
        def imap(self, func: Callable[[_S], _R], iterable: Iterable[_S],
                 chunksize: int = 1) -> Iterator[_R]: ...
        def imap_unordered(self, func: Callable[[_S], _R], iterable: Iterable[_S],
                           chunksize: int = 1) -> Iterator[_R]: ...
        def close(self) -> None: ...
        def join(self) -> None: ...
        def terminate(self) -> None: ...

else:
    BasePoolProxy = MakeProxyType("PoolProxy", (
        "apply", "apply_async", "close", "imap", "imap_unordered", "join", "map",
        "map_async", "starmap", "starmap_async", "terminate"))
    BasePoolProxy._method_to_typeid_ = {  # type: ignore[attr-defined]
        "apply_async": "AsyncResult", "map_async": "AsyncResult", "starmap_async": "AsyncResult",
        "imap": "Iterator", "imap_unordered": "Iterator"}


class PoolProxy(BasePoolProxy):
    """A proxy of a Pool running in a manager's process (``manager.Pool(n)``)."""

    def __enter__(self) -> PoolProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()
