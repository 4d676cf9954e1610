"""Development aid for ``runner --stub-missing``: placeholders for unwritten mproc modules.

``test._test_multiprocessing`` imports ``multiprocessing.queues``, ``.pool``,
``.managers``... at module level, so while mproc lacks one of them no test can
run at all.  With ``MPROC_CONFORMANCE_STUB_MISSING=1`` the runner (and, through
its start-up hook, every child interpreter) registers a placeholder
``mproc.<name>`` for each missing module: classes that do not need it can run;
using a placeholder raises NotImplementedError.  Such a run is never a valid
conformance result (``expected.check`` rejects it).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import types
from typing import Any

ENV_STUBS = "MPROC_CONFORMANCE_STUB_MISSING"
# mproc modules the suite imports unconditionally (at module level).
SUITE_IMPORTS = ("connection", "dummy", "heap", "managers", "pool", "queues", "util")
STUBBED: list[str] = []


class _StubMeta(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None  # e.g. MyManager.register(...) at import


class _Stub(metaclass=_StubMeta):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__qualname__} is a conformance-runner stub")


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        stub = _StubMeta(name, (_Stub,), {"__module__": self.__name__})
        setattr(self, name, stub)
        return stub


def install() -> None:
    """Register placeholders for the missing modules (idempotent)."""
    names = [*SUITE_IMPORTS, *(["resource_tracker"] if os.name == "posix" else [])]
    for name in names:
        full = f"mproc.{name}"
        if isinstance(sys.modules.get(full), _StubModule):
            continue
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
            module = _StubModule(full)
            module.__spec__ = importlib.machinery.ModuleSpec(full, None)
            sys.modules[full] = module
            setattr(sys.modules["mproc"], name, module)
            STUBBED.append(name)
