"""ctypes objects in shared memory, and lock-holding wrappers around them.

``RawValue`` / ``RawArray`` build a ctypes object over a block of the arena heap
(``heap.BufferWrapper``), cleared and then initialised; the object keeps its block
alive through ``obj._wrapper``. ``Value`` / ``Array`` wrap one in a ``Synchronized*``
object that takes a lock around every access (an ``RLock`` unless told otherwise)::

    Value('i', 7) ─> Synchronized ─┬─ _obj:  c_int over heap block ─> arena (memfd)
                                   └─ _lock: RLock (a named semaphore)

Sharing follows the stdlib: by inheritance only. Fork children inherit the objects;
spawn and forkserver children get them pickled while they are being started (each
exact ctypes type gets a reducer that sends the block, whose arena travels as an
fd); pickling them at any other time raises RuntimeError, as it does for locks.

Without a context, the lock is made to work with every start method; a context's
``Value`` passes itself, and its own ``RLock`` is used. The lock classes are imported
on first use: importing this module does not load semaphores.
"""

from __future__ import annotations

import ctypes
import types
import weakref

from .._serialize.pickler import register
from .._serialize.spawning import assert_spawning
from .heap import BufferWrapper

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, Generic, Protocol, TypeVar, overload

    class LockLike(Protocol):
        """What ``lock=`` accepts and ``get_lock()`` returns: mproc's Lock or RLock
        (or any lock with this interface)."""

        def acquire(self, block: bool = ..., timeout: float | None = ..., /) -> bool: ...
        def release(self) -> None: ...
        def __enter__(self) -> bool: ...
        def __exit__(self, *args: Any) -> Any: ...
else:
    from .._runtime.generic import Generic, TypeVar, overload

_T = TypeVar("_T")

__all__ = [
    "RawValue",
    "RawArray",
    "Value",
    "Array",
    "copy",
    "synchronized",
    "typecode_to_type",
    "SynchronizedBase",
    "Synchronized",
    "SynchronizedArray",
    "SynchronizedString",
]

typecode_to_type: dict[str, Any] = {
    "c": ctypes.c_char,
    "u": ctypes.c_wchar,
    "b": ctypes.c_byte,
    "B": ctypes.c_ubyte,
    "h": ctypes.c_short,
    "H": ctypes.c_ushort,
    "i": ctypes.c_int,
    "I": ctypes.c_uint,
    "l": ctypes.c_long,
    "L": ctypes.c_ulong,
    "q": ctypes.c_longlong,
    "Q": ctypes.c_ulonglong,
    "f": ctypes.c_float,
    "d": ctypes.c_double,
}

_PUBLIC_MODULE = "mproc.sharedctypes"
_registered: set[type] = set()


def _reduce_ctype(obj: Any) -> tuple[Any, ...]:
    assert_spawning(obj)
    if isinstance(obj, ctypes.Array):
        return (_rebuild_ctype, (obj._type_, obj._wrapper, obj._length_))  # type: ignore[attr-defined]
    return (_rebuild_ctype, (type(obj), obj._wrapper, None))


def _rebuild_ctype(type_: Any, wrapper: BufferWrapper, length: int | None) -> Any:
    """A ``type_`` (or ``type_ * length``) object over ``wrapper``'s block."""
    if length is not None:
        type_ = type_ * length
    if type_ not in _registered:
        _registered.add(type_)
        register(type_, _reduce_ctype)
    obj = type_.from_buffer(wrapper.create_memoryview())
    obj._wrapper = wrapper
    return obj


def _new_value(type_: Any) -> Any:
    """A cleared ``type_`` object in shared memory."""
    size = ctypes.sizeof(type_)
    obj = _rebuild_ctype(type_, BufferWrapper(size), None)
    ctypes.memset(ctypes.addressof(obj), 0, size)
    return obj


def RawValue(typecode_or_type: Any, *args: Any) -> Any:  # noqa: N802 - stdlib names
    """A ctypes object in shared memory, initialised with ``args``; no lock."""
    type_ = typecode_to_type.get(typecode_or_type, typecode_or_type)
    obj = _new_value(type_)
    obj.__init__(*args)
    return obj


def RawArray(typecode_or_type: Any, size_or_initializer: int | Sequence[Any]) -> Any:  # noqa: N802
    """A ctypes array in shared memory: zeroed of a length, or filled from a sequence."""
    type_ = typecode_to_type.get(typecode_or_type, typecode_or_type)
    if isinstance(size_or_initializer, int):
        return _new_value(type_ * size_or_initializer)
    obj = _new_value(type_ * len(size_or_initializer))
    obj.__init__(*size_or_initializer)
    return obj


def _lock_for(lock: Any, ctx: Any) -> Any:
    """The lock a wrapper should use: the given one, or a new RLock."""
    if lock in (True, None):
        if ctx is not None:
            return ctx.RLock()
        from .._sync.locks import RLock

        return RLock()
    if not hasattr(lock, "acquire"):
        raise AttributeError(f"{lock!r} has no method 'acquire'")
    return lock


def Value(typecode_or_type: Any, *args: Any, lock: Any = True, ctx: Any = None) -> Any:  # noqa: N802
    """A shared ctypes object behind a lock (``lock=False``: the raw object)."""
    obj = RawValue(typecode_or_type, *args)
    if lock is False:
        return obj
    return synchronized(obj, _lock_for(lock, ctx), ctx=ctx)


def Array(typecode_or_type: Any, size_or_initializer: int | Sequence[Any], *,  # noqa: N802
          lock: Any = True, ctx: Any = None) -> Any:
    """A shared ctypes array behind a lock (``lock=False``: the raw array)."""
    obj = RawArray(typecode_or_type, size_or_initializer)
    if lock is False:
        return obj
    return synchronized(obj, _lock_for(lock, ctx), ctx=ctx)


def copy(obj: Any) -> Any:
    """A new shared object of ``obj``'s type holding a copy of its bytes."""
    new_obj = _new_value(type(obj))
    ctypes.memmove(ctypes.addressof(new_obj), ctypes.addressof(obj), ctypes.sizeof(obj))
    return new_obj


def synchronized(obj: Any, lock: Any = None, ctx: Any = None) -> Any:
    """Wrap the ctypes object ``obj`` so every access holds ``lock`` (default: an RLock)."""
    if isinstance(obj, SynchronizedBase):
        raise TypeError("object already synchronized")
    if isinstance(obj, ctypes._SimpleCData):
        return Synchronized(obj, lock, ctx)
    if isinstance(obj, ctypes.Array):
        if obj._type_ is ctypes.c_char:
            return SynchronizedString(obj, lock, ctx)
        return SynchronizedArray(obj, lock, ctx)
    return _structure_class(type(obj))(obj, lock, ctx)


# -- wrappers ---------------------------------------------------------------------


class SynchronizedBase:
    """A ctypes object and the lock that guards it.

    ``with obj:`` (or ``obj.acquire()``/``obj.release()``) holds the lock over several
    accesses; ``get_obj()`` and ``get_lock()`` give the parts.
    """

    acquire: Callable[..., bool]
    release: Callable[[], None]

    def __init__(self, obj: Any, lock: Any = None, ctx: Any = None) -> None:
        self._obj = obj
        self._lock = lock if lock else _lock_for(None, ctx)
        self.acquire = self._lock.acquire
        self.release = self._lock.release

    def __enter__(self) -> Any:
        """Acquire the lock."""
        return self._lock.__enter__()

    def __exit__(self, *args: Any) -> Any:
        """Release the lock."""
        return self._lock.__exit__(*args)

    def __reduce__(self) -> tuple[Any, ...]:
        assert_spawning(self)
        return (synchronized, (self._obj, self._lock))

    def get_obj(self) -> Any:
        """The wrapped ctypes object (accessing it directly takes no lock)."""
        return self._obj

    def get_lock(self) -> LockLike:
        """The lock that guards the object (an RLock unless one was passed in)."""
        return self._lock

    def __repr__(self) -> str:
        return f"<{type(self).__name__} wrapper for {self._obj}>"


class Synchronized(SynchronizedBase, Generic[_T]):
    """A wrapped simple ctypes value of Python type ``_T``: ``.value`` under the lock.

    What ``mproc.Value("i", 0)`` returns; ``v.value += 1`` is two accesses, so hold
    the lock around it (``with v.get_lock(): v.value += 1``).
    """

    if not TYPE_CHECKING:
        __class_getitem__ = classmethod(types.GenericAlias)

    @property
    def value(self) -> _T:
        """The value (read under the lock); assigning it writes under the lock."""
        with self._lock:
            return self._obj.value

    @value.setter
    def value(self, new: _T) -> None:
        with self._lock:
            self._obj.value = new


class SynchronizedArray(SynchronizedBase, Generic[_T]):
    """A wrapped ctypes array of items of Python type ``_T``: indexing under the lock.

    What ``mproc.Array("d", 10)`` returns; ``a[i]`` and ``a[i:j]`` take the lock.
    """

    if not TYPE_CHECKING:
        __class_getitem__ = classmethod(types.GenericAlias)

    def __len__(self) -> int:
        """The number of items."""
        return len(self._obj)

    @overload
    def __getitem__(self, index: int) -> _T: ...
    @overload
    def __getitem__(self, index: slice) -> list[_T]: ...
    def __getitem__(self, index: int | slice) -> _T | list[_T]:
        """An item, or a list of items for a slice (read under the lock)."""
        with self._lock:
            return self._obj[index]  # type: ignore[no-any-return]

    @overload
    def __setitem__(self, index: int, value: _T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[_T]) -> None: ...
    def __setitem__(self, index: int | slice, value: Any) -> None:
        """Write an item, or the items of a slice, under the lock."""
        with self._lock:
            self._obj[index] = value

    def __getslice__(self, start: int, stop: int) -> Any:
        with self._lock:
            return self._obj[start:stop]

    def __setslice__(self, start: int, stop: int, values: Any) -> None:
        with self._lock:
            self._obj[start:stop] = values


class SynchronizedString(SynchronizedArray[bytes]):
    """A wrapped ``c_char`` array: also ``.value`` (up to NUL) and ``.raw`` (all bytes)."""

    @property
    def value(self) -> bytes:
        """The bytes up to the first NUL; assigning writes them (under the lock)."""
        with self._lock:
            return self._obj.value  # type: ignore[no-any-return]

    @value.setter
    def value(self, new: bytes) -> None:
        with self._lock:
            self._obj.value = new

    @property
    def raw(self) -> bytes:
        """All the array's bytes; assigning writes them (under the lock)."""
        with self._lock:
            return self._obj.raw  # type: ignore[no-any-return]

    @raw.setter
    def raw(self, new: bytes) -> None:
        with self._lock:
            self._obj.raw = new


def _field_property(name: str) -> property:
    def get(self: SynchronizedBase) -> Any:
        with self._lock:
            return getattr(self._obj, name)

    def set(self: SynchronizedBase, value: Any) -> None:
        with self._lock:
            setattr(self._obj, name, value)

    return property(get, set, doc=f"Field {name!r}, read and written under the lock.")


_structure_classes: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()


def _structure_class(ctype: type) -> type:
    """``Synchronized<Name>``: a wrapper with one locked property per field of ``ctype``."""
    cls = _structure_classes.get(ctype)
    if cls is None:
        names: list[str] = []
        for klass in reversed(ctype.__mro__):
            for field in klass.__dict__.get("_fields_", ()):
                if field[0] not in names:
                    names.append(field[0])
        namespace: dict[str, Any] = {name: _field_property(name) for name in names}
        namespace["__module__"] = _PUBLIC_MODULE
        cls = type("Synchronized" + ctype.__name__, (SynchronizedBase,), namespace)
        _structure_classes[ctype] = cls
    return cls


# Pickles and tracebacks name the public module.
for _cls in (SynchronizedBase, Synchronized, SynchronizedArray, SynchronizedString):
    _cls.__module__ = _PUBLIC_MODULE
del _cls
