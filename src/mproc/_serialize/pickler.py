"""The pickler behind every message: plain pickle first, cloudpickle where needed.

Protocol 5 throughout. Builtin data never leaves the C pickler (``reducer_override``
is not consulted for exact int/float/str/bytes/list/tuple/dict/set). Functions and
classes are looked at once each:

* importable by module and qualified name -> pickled by reference, as pickle does;
* defined in ``__main__`` -> by reference *with a by-value fallback*: the child
  uses its own ``__main__`` object when it has one (so identities and isinstance hold
  under spawn, where ``__main__`` is re-imported), and the cloudpickled copy when it
  does not (functions defined under the ``__main__`` guard, ``python -c``, a REPL);
* lambdas, closures, local functions and classes -> by value, through cloudpickle.

cloudpickle is imported the first time something needs it.
"""

from __future__ import annotations

import copyreg
import importlib
import io
import pickle
import sys
import threading
import types

from .stdlib_peer import peer_reducers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar

__all__ = ["Pickler", "ReferencePickler", "dumps", "loads", "dump", "register",
           "reducer_table",
           "register_deferred", "refresh_reducers", "PROTOCOL"]

PROTOCOL = 5
loads = pickle.loads

_FUNCTION_TYPES = (types.FunctionType,)


def _lookup(module_name: str, qualname: str, load: bool = False) -> Any:
    obj: Any = sys.modules.get(module_name)
    if obj is None:
        if not load:
            return None
        try:
            obj = importlib.import_module(module_name)
        except Exception:
            return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _cloudpickle_dumps(obj: Any) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(obj, protocol=PROTOCOL)


def _load_by_value(blob: bytes) -> Any:
    return pickle.loads(blob)


def _load_main_object(qualname: str, blob: bytes | None) -> Any:
    """Resolve a ``__main__`` function/class in the child, else use the copy."""
    found = _lookup("__main__", qualname)
    if found is None:
        found = _lookup("__mp_main__", qualname)
    if found is not None:
        return found
    if blob is None:
        raise pickle.UnpicklingError(
            f"__main__.{qualname} is not defined in this process, and it could not be "
            f"sent by value (it refers to something that cannot be pickled); define it "
            f"at the top level of a module the child imports")
    return pickle.loads(blob)


def _needs_value(obj: Any) -> bool | None:
    """None: plain pickle handles it; True: by value; False: __main__ reference."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return True
    if module in ("__main__", "__mp_main__"):
        return False if "<" not in qualname else True
    if "<" in qualname:  # <lambda>, <locals>
        return True
    return None if _lookup(module, qualname, load=True) is obj else True


# Reducers for types whose module is imported only when something uses it.
_deferred: list[tuple[str, str, Callable[[Any], Any]]] = []
_table: dict[Any, Any] | None = None
_table_key: tuple[int, int, int] = (-1, -1, -1)


def register_deferred(module: str, attr: str, reduce: Callable[[Any], Any]) -> None:
    """Register ``reduce`` for ``module.attr`` once ``module`` has been imported."""
    _deferred.append((module, attr, reduce))


def reducer_table() -> dict[Any, Any]:
    """copyreg's reducers with mproc's (and the stdlib peer's) on top: what mproc's
    picklers use as ``dispatch_table``, for a pickler of another kind to use too."""
    return _dispatch_table()


def _dispatch_table() -> dict[Any, Any]:
    global _table, _table_key
    for entry in list(_deferred):
        module = sys.modules.get(entry[0])
        if module is not None:
            _deferred.remove(entry)
            Pickler._extra_reducers[getattr(module, entry[1])] = entry[2]
    peer = peer_reducers()
    key = (len(copyreg.dispatch_table), len(Pickler._extra_reducers),
           -1 if peer is None else len(peer))
    if _table is None or key != _table_key:
        table = dict(copyreg.dispatch_table)
        if peer:
            table.update(peer)  # the stdlib's own types, built on mproc (stdlib_peer.py)
        table.update(Pickler._extra_reducers)
        _table, _table_key = table, key
    return _table


class Pickler(pickle.Pickler):
    """A pickle.Pickler (the C one) that also moves what pickle cannot reference."""

    _extra_reducers: ClassVar[dict[type, Callable[[Any], Any]]] = {}

    def __init__(self, file: Any, protocol: int | None = None, **kwargs: Any) -> None:
        super().__init__(file, PROTOCOL if protocol is None else protocol, **kwargs)
        refresh_reducers(self)

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) in _FUNCTION_TYPES or isinstance(obj, type):
            verdict = _needs_value(obj)
            if verdict is None:
                return NotImplemented
            if verdict:
                return _load_by_value, (_cloudpickle_dumps(obj),)
            try:
                blob: bytes | None = _cloudpickle_dumps(obj)
            except Exception:
                # The copy is only a fallback for a child that lacks __main__'s
                # definition; one that has it (fork, the usual case) does not need it.
                blob = None
            return _load_main_object, (obj.__qualname__, blob)
        return NotImplemented

    @classmethod
    def register(cls, type_: type, reduce: Callable[[Any], Any]) -> None:
        """Use ``reduce(obj)`` to pickle instances of ``type_`` (exact type)."""
        cls._extra_reducers[type_] = reduce

    @classmethod
    def dumps(cls, obj: Any, protocol: int | None = None) -> bytes:
        buf = io.BytesIO()
        cls(buf, protocol).dump(obj)
        return buf.getvalue()

    loads: staticmethod[..., Any] = staticmethod(pickle.loads)


class ReferencePickler(Pickler):
    """Functions and classes by reference only, as the stdlib pickles them.

    For what must not grow by-value code on the way (a Pool worker's results and
    exceptions: a lambda in a result is the stdlib's MaybeEncodingError, which
    CPython's own tests expect), while ``__main__`` objects still resolve by name.
    """

    def reducer_override(self, obj: Any) -> Any:
        if (type(obj) is types.FunctionType or isinstance(obj, type)) and _needs_value(obj):
            raise pickle.PicklingError(
                f"Can't pickle {obj!r}: it is not importable by name (a worker sends "
                f"results and exceptions back by reference, as the stdlib does)")
        return super().reducer_override(obj)


def _table_is_current() -> bool:
    """Whether ``_table`` still holds every reducer registered (cheap: asked for
    every message, so it compares sizes instead of rebuilding anything)."""
    if _deferred or _table is None:
        return False
    peer = peer_reducers()
    return _table_key == (len(_copyreg_table), len(Pickler._extra_reducers),
                          -1 if peer is None else len(peer))


_copyreg_table = copyreg.dispatch_table


def refresh_reducers(pickler: Pickler) -> None:
    """Give a pickler (a new one, or one kept for reuse) the reducers registered so far."""
    table = _table if _table is not None and _table_is_current() else _dispatch_table()
    if getattr(pickler, "dispatch_table", None) is not table:
        pickler.dispatch_table = table


def register(type_: type, reduce: Callable[[Any], Any]) -> None:
    """Pickle instances of ``type_`` with ``reduce(obj)`` (a ``__reduce__``-style tuple)."""
    Pickler.register(type_, reduce)


class _Kept(threading.local):
    """One pickler per thread, reused by :func:`dumps`: making a Pickler costs several
    times what pickling a small message does (2.8 us against 0.3 us here).

    ``free`` holds it while no ``dumps`` runs in this thread; a reducer that calls
    ``dumps`` again finds the list empty and gets a fresh pickler.
    """

    def __init__(self) -> None:
        # The pickler writes what it made to ``chunks`` (``write`` is the list's
        # append): the bytes it hands over are taken as they are, with none of the
        # copying, seeking and truncating a reused BytesIO would need.
        chunks: list[Any] = []
        self.free = [(Pickler(types.SimpleNamespace(write=chunks.append)), chunks)]


_kept = _Kept()


def dumps(obj: Any, protocol: int | None = None, buffer_callback: Any = None) -> bytes:
    """Pickle ``obj`` for another process."""
    if protocol is None and buffer_callback is None:
        free = _kept.free
        if free:
            pickler, chunks = free.pop()
            try:
                if not _table_is_current() or pickler.dispatch_table is not _table:
                    refresh_reducers(pickler)
                pickler.dump(obj)
                return chunks.pop() if len(chunks) == 1 else b"".join(chunks)
            finally:
                pickler.clear_memo()  # drop its references to obj's parts
                chunks.clear()
                free.append((pickler, chunks))
    buf = io.BytesIO()
    Pickler(buf, protocol, buffer_callback=buffer_callback).dump(obj)
    return buf.getvalue()


def dump(obj: Any, file: Any, protocol: int | None = None) -> None:
    """Pickle ``obj`` to the binary ``file`` with mproc's pickler."""
    Pickler(file, protocol).dump(obj)
