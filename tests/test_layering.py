"""Imports point down: the internal packages form layers, with no cycle.

Each ``src/mproc/_*`` package (or module) is a unit; an import of another unit, at
module level or inside a function (but not under ``TYPE_CHECKING``), is an edge.
The graph must be acyclic once the few function-local imports listed in
``UPWARD`` (each with its reason) are set aside, and the front ends and backends
keep to the seam: no backend imports a front end, no backend another backend.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "mproc"

# Known imports that point up, each function-local and why.
UPWARD = {
    ("_shm", "_sync"): "sharedctypes (in _shm) makes the RLock of a synchronized value; "
                       "the lock's semaphore registers with _shm's tracker",
    ("_managers", "_context"): "a manager without a context uses the default one",
    ("_process", "_launch"): "a child starts its parent watch (the launch layer binds "
                             "Process to a start method, above both)",
}
FRONT_ENDS = {"_pool", "_futures"}


def _unit(path: Path) -> str | None:
    parts = path.relative_to(ROOT).parts
    if len(parts) == 1:
        name = parts[0].removesuffix(".py")
        return name if name.startswith("_") and not name.startswith("__") else None
    return parts[0] if parts[0].startswith("_") else None


class _Imports(ast.NodeVisitor):
    """The units one file imports (``TYPE_CHECKING`` blocks left out)."""

    def __init__(self, package: list[str]) -> None:
        self.package = package
        self.units: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            target = self.package[:len(self.package) - node.level + 1]
            target += node.module.split(".") if node.module else []
            self.units.update(target[:1] or [alias.name for alias in node.names])
        elif node.module and node.module.startswith("mproc."):
            self.units.add(node.module.split(".")[1])


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for path in ROOT.rglob("*.py"):
        source = _unit(path)
        if source is None:
            continue
        visitor = _Imports(list(path.relative_to(ROOT).parts[:-1]))
        visitor.visit(ast.parse(path.read_text()))
        edges[source] |= visitor.units - {source}
    return edges


def _internal(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    return {source: {t for t in targets if t.startswith("_") and not t.startswith("__")}
            for source, targets in edges.items()}


def test_internal_packages_form_layers_without_a_cycle():
    graph = _internal(_edges())
    for source, target in UPWARD:
        assert target in graph.get(source, set()), f"{source} -> {target} no longer exists"
        graph[source].discard(target)
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_front_ends_and_backends_keep_to_the_seam():
    edges = _edges()
    assert not edges["_backends"] & (FRONT_ENDS | {"_context", "pool", "futures"})
    assert "_futures" not in edges["_pool"]
    runtime = {t for t in edges["_runtime"] if t != "errors"}
    assert not runtime, f"_runtime is the bottom layer, yet imports {runtime}"
    backends = ROOT / "_backends"
    assert not {"processes", "dask"} & _imported_modules(backends / "threads.py")
    for path in (backends / "processes").glob("*.py"):
        assert not {"threads", "dask"} & _imported_modules(path), path.name
    # the dask backend's sandbox loads the process backend through the seam (base.load)
    for path in (backends / "dask").glob("*.py"):
        assert not {"threads", "processes"} & _imported_modules(path), path.name


def _imported_modules(path: Path) -> set[str]:
    """Every module name and imported name of a file's ``from`` imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.update((node.module or "").split("."))
            names.update(alias.name for alias in node.names)
    return names
