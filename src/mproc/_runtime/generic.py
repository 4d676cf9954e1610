"""Generic classes for type checkers, at no run-time cost.

mproc does not import ``typing`` at run time (a spawned child that only runs a
Process should not pay for it). A module that defines a generic class writes::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import Generic, TypeVar
    else:
        from .._runtime.generic import Generic, TypeVar

    _T = TypeVar("_T")

    class Queue(Generic[_T]):
        ...

Checkers see ``typing.Generic``. At run time ``Generic[_T]`` adds no base class at
all (the class's bases and MRO are what they were without it), and the class
keeps ``__class_getitem__ = classmethod(types.GenericAlias)`` so that
``Queue[int]`` works in annotations evaluated at run time.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any
    from typing import TypeVar as _TypeVar

    _F = _TypeVar("_F", bound=Callable[..., Any])

__all__ = ["Generic", "TypeVar", "overload"]


class _NoBase:
    """What ``Generic[...]`` is at run time: a base that removes itself."""

    __slots__ = ()

    def __mro_entries__(self, bases: tuple[object, ...]) -> tuple[()]:
        return ()


_NO_BASE = _NoBase()


class Generic:
    """Run-time stand-in for ``typing.Generic``: subscripting it adds no base."""

    __slots__ = ()

    def __class_getitem__(cls, params: object) -> _NoBase:
        return _NO_BASE


def TypeVar(name: str, *constraints: object, **kwargs: object) -> str:  # noqa: N802
    """Run-time stand-in for ``typing.TypeVar``: only its name is kept."""
    return name



def overload(func: _F) -> _F:
    """Run-time stand-in for ``typing.overload``: the last definition wins anyway."""
    return func
