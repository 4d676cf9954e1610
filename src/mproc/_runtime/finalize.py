"""Finalizers: callbacks run when an object dies or when the process exits.

``Finalize`` objects live in one registry keyed by ``(exitpriority, serial)``. At exit,
finalizers with a priority run highest priority first and, within a priority, newest
first. A finalizer only ever runs in the process that created it: a forked child
inherits the registry but not the right to run its entries.
"""

from __future__ import annotations

import itertools
import os
import weakref

from . import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

__all__ = [
    "Finalize", "run_finalizers", "is_exiting", "finalizer_registry", "set_exiting",
    "drop_inherited_finalizers",
]

# (exitpriority or None, serial) -> Finalize.  Tests reach it as util._finalizer_registry.
finalizer_registry: dict[tuple[int | None, int], Finalize] = {}
_serials = itertools.count()
_exiting = False


class Finalize:
    """Call ``callback(*args, **kwargs)`` once: when ``obj`` is collected, on
    explicit call, or at process exit if ``exitpriority`` is not None."""

    def __init__(
        self,
        obj: object,
        callback: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        exitpriority: int | None = None,
    ) -> None:
        if exitpriority is not None and not isinstance(exitpriority, int):
            raise TypeError(
                f"exitpriority must be None or int, not {type(exitpriority).__name__}"
            )
        if obj is not None:
            self._weakref: weakref.ref[Any] | None = weakref.ref(obj, self)
        elif exitpriority is None:
            raise ValueError("Finalize without an object needs an exitpriority")
        else:
            self._weakref = None
        self._callback: Callable[..., Any] | None = callback
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._key: tuple[int | None, int] | None = (exitpriority, next(_serials))
        self._pid = os.getpid()
        finalizer_registry[self._key] = self

    def __call__(self, wr: object = None) -> Any:
        """Run the callback if it has not run yet, in the creating process only."""
        try:
            del finalizer_registry[self._key]  # type: ignore[arg-type]
        except KeyError:
            log.sub_debug("finalizer no longer registered")
            return None
        callback, args, kwargs = self._callback, self._args, self._kwargs
        self._weakref = self._callback = self._key = None
        self._args, self._kwargs = (), {}
        if callback is None:
            return None
        if self._pid != os.getpid():
            log.sub_debug("finalizer ignored because different process")
            return None
        log.sub_debug("finalizer calling %s with args %s and kwargs %s", callback, args, kwargs)
        return callback(*args, **kwargs)

    def cancel(self) -> None:
        """Forget the callback without running it."""
        if self._key is not None:
            finalizer_registry.pop(self._key, None)
        self._weakref = self._callback = self._key = None
        self._args, self._kwargs = (), {}

    def still_active(self) -> bool:
        return self._key is not None and self._key in finalizer_registry

    def __repr__(self) -> str:
        obj = self._weakref() if self._weakref is not None else None
        if self._callback is None:
            return "<Finalize object, dead>"
        name = getattr(self._callback, "__name__", repr(self._callback))
        text = f"<{type(self).__name__} object, callback={name}"
        if obj is not None:
            text += f", obj={type(obj).__name__}"
        if self._args:
            text += f", args={self._args}"
        if self._kwargs:
            text += f", kwargs={self._kwargs}"
        if self._key is not None and self._key[0] is not None:
            text += f", exitpriority={self._key[0]}"
        return text + ">"


def run_finalizers(minpriority: int | None = None) -> None:
    """Run registered finalizers whose priority is >= ``minpriority``.

    With ``minpriority=None`` every finalizer that has a priority runs. Entries may be
    added or removed concurrently (gc callbacks, other threads): we snapshot the keys
    and look each one up again just before calling it.
    """
    if minpriority is None:
        def wanted(key: tuple[int | None, int]) -> bool:
            return key[0] is not None
    else:
        def wanted(key: tuple[int | None, int]) -> bool:
            return key[0] is not None and key[0] >= minpriority

    while True:
        keys = [k for k in list(finalizer_registry) if wanted(k)]
        if not keys:
            return
        keys.sort(reverse=True)  # type: ignore[arg-type]
        for key in keys:
            finalizer = finalizer_registry.get(key)
            if finalizer is None:
                continue
            try:
                finalizer()
            except Exception:
                import traceback

                traceback.print_exc()
        if minpriority is None:
            finalizer_registry.clear()
            return


def drop_inherited_finalizers() -> None:
    """Forget the finalizers a forked child inherited from its parent.

    Those created in this process (e.g. while a spawned child re-imported the main
    module) stay: they must run at its exit.
    """
    pid = os.getpid()
    for key, finalizer in list(finalizer_registry.items()):
        if finalizer._pid != pid:
            finalizer_registry.pop(key, None)


def is_exiting() -> bool:
    """True once the process has started its exit sequence."""
    return _exiting


def set_exiting(value: bool) -> None:
    global _exiting
    _exiting = value

