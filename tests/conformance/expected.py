"""What the conformance run must achieve, per start method.

* :data:`CORE_CLASSES` - CPython test classes (names as created by
  ``test._test_multiprocessing.install_tests_in_module_dict``) that must pass
  under every start method.  Extend :data:`EXPECTED_CLASSES` as mproc grows.
* :data:`KNOWN_FAILURES` - explicit per-test exceptions, ``"Class.test_name"``
  -> reason.  Empty by default: any failure or error not listed here fails CI.
* :data:`STDLIB_SKIPS` - tests the *stdlib* skips on this machine, per Python
  minor version and start method, measured over the whole suite with
  ``python -m tests.conformance.runner --stdlib --classes ALL --method M
  --print-baseline``.  mproc may not skip more tests than the stdlib does for
  the same selection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

METHODS = ("fork", "spawn", "forkserver")

# Short names; each expands to WithProcessesTest<X> and WithThreadsTest<X>
# (those that exist) - the manager variants are not part of the core issue.
_CORE_BASE_CASES = (
    "Process",
    "SubclassingProcess",
    "Connection",
    "Listener",
    "ListenerClient",
    "Poll",
    "PollEintr",
    "PicklingConnections",
    "Finalize",
    "Logging",
)
# Plain unittest.TestCase classes (exact names).
_CORE_PLAIN_CASES = (
    "TestWait",
    "TestStartMethod",
    "TestInvalidHandle",
    "TestInvalidFamily",
    "TestCloseFds",
    "TestIgnoreEINTR",
    "TestFlags",
    "TestNoForkBomb",
    "TestStdinBadfiledescriptor",
    "TestForkAwareThreadLock",
    "TestInternalDecorators",
    "TestTimeouts",
    "OtherTest",
    "_TestImportStar",
    "MiscTestCase",
)
# ALLOWED_TYPES of the BaseTestCase classes above (identical in 3.10 - 3.13).
_VARIANTS = {
    "Process": ("Processes", "Threads"),
    "SubclassingProcess": ("Processes",),
    "Connection": ("Processes", "Threads"),
    "Listener": ("Processes",),
    "ListenerClient": ("Processes", "Threads"),
    "Poll": ("Processes", "Threads"),
    "PollEintr": ("Processes",),
    "PicklingConnections": ("Processes",),
    "Finalize": ("Processes",),
    "Logging": ("Processes",),
}
# Classes that only exist from some Python version on.
SINCE: dict[str, tuple[int, int]] = {"TestInternalDecorators": (3, 11)}

CORE_CLASSES: tuple[str, ...] = tuple(
    f"With{variant}Test{name}" for name in _CORE_BASE_CASES for variant in _VARIANTS[name]
) + _CORE_PLAIN_CASES

EXPECTED_CLASSES: dict[str, tuple[str, ...]] = {method: CORE_CLASSES for method in METHODS}

# "Class.test_name" -> reason.  "all" applies to every start method.
KNOWN_FAILURES: dict[str, dict[str, str]] = {
    "all": {},
    "fork": {},
    "spawn": {},
    "forkserver": {},
}

# python "X.Y" -> method -> sorted test ids the stdlib skipped (whole suite).
STDLIB_SKIPS: dict[str, dict[str, list[str]]] = {}


def expected_classes(method: str, version: tuple[int, int]) -> list[str]:
    """The classes that must pass for ``method`` on Python ``version``."""
    return [c for c in EXPECTED_CLASSES[method] if version >= SINCE.get(c, (0, 0))]


def known_failures(method: str) -> dict[str, str]:
    return {**KNOWN_FAILURES.get("all", {}), **KNOWN_FAILURES.get(method, {})}


def stdlib_skips(method: str, version: str, classes: Iterable[str]) -> list[str] | None:
    """Stored stdlib skips restricted to ``classes``; None if not measured."""
    per_method = STDLIB_SKIPS.get(version, {})
    if method not in per_method:
        return None
    wanted = set(classes)
    return [t for t in per_method[method] if t.split(".", 1)[0] in wanted]


def check(report: Mapping[str, Any], baseline_skips: Sequence[str] | None) -> list[str]:
    """Problems in a runner JSON report (empty list: conformance holds).

    Every test must pass (or be skipped, or be listed in KNOWN_FAILURES) and
    the number of skips must not exceed the stdlib's for the same selection.
    """
    problems: list[str] = []
    if report.get("status") != "ok":
        problems.append(f"run status {report.get('status')!r}: {report.get('detail', '')}")
    known = known_failures(report.get("method", ""))
    skipped = []
    for test_id, result in sorted(report.get("tests", {}).items()):
        outcome = result["outcome"]
        if outcome == "skipped":
            skipped.append(test_id)
        elif outcome not in ("passed", "expected_failure") and test_id not in known:
            problems.append(f"{test_id}: {outcome}: {result.get('reason', '')}")
    for fixture in report.get("fixture_errors", []):
        problems.append(f"{fixture['id']}: error: {fixture.get('reason', '')}")
    if baseline_skips is not None and len(skipped) > len(baseline_skips):
        extra = sorted(set(skipped) - set(baseline_skips))
        problems.append(
            f"{len(skipped)} tests skipped, stdlib skips only {len(baseline_skips)}; "
            f"skipped here but not by the stdlib: {extra}"
        )
    return problems
