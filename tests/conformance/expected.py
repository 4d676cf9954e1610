"""What the conformance run must achieve, per start method.

* :data:`CORE_CLASSES` - CPython test classes (names as created by
  ``test._test_multiprocessing.install_tests_in_module_dict``) that must pass
  under every start method.  Extend :data:`EXPECTED_CLASSES` as mproc grows.
* :data:`KNOWN_FAILURES` - explicit per-test exceptions, ``"Class.test_name"``
  -> reason.  Empty by default: any failure or error not listed here fails CI.
* :data:`STDLIB_SKIPS` - tests the *stdlib* skips, per Python minor version
  and start method, over the whole suite; stored in ``stdlib_skips.json`` by
  ``python -m tests.conformance.runner --stdlib --classes ALL --method M
  --record-baseline``.  mproc may not skip a test the stdlib runs, nor skip
  more tests than the stdlib does for the same selection.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
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

CORE_CLASSES: tuple[str, ...] = (
    tuple(f"With{variant}Test{name}" for name in _CORE_BASE_CASES for variant in _VARIANTS[name])
    + _CORE_PLAIN_CASES
)

# The whole suite: every class CPython ships must pass (or skip exactly as the stdlib
# skips) under every start method. CORE_CLASSES stays as the core issue's selection.
ALL = "ALL"
EXPECTED_CLASSES: dict[str, tuple[str, ...]] = {method: (ALL,) for method in METHODS}

# "Class.test_name" -> reason.  "all" applies to every start method.
KNOWN_FAILURES: dict[str, dict[str, str]] = {
    "all": {
        "WithProcessesTestQueue.test_queue_feeder_donot_stop_onexc": (
            "intended: mproc raises at put() for an object that cannot be pickled, in "
            "the caller with its traceback; the stdlib accepts it and drops it later in "
            "its feeder thread (the test expects put() to succeed)"
        ),
        "WithProcessesTestSharedMemory.test_shared_memory_tracking": (
            "intended (3.13's test): only the creator of a segment owns it; a process "
            "that merely attaches, even with track=True, never unlinks it when it exits "
            "(the test expects the attaching process to remove it and warn)"
        ),
    },
    "fork": {},
    "spawn": {},
    "forkserver": {},
}

# --------------------------------------------------------------------------
# The Pool tests on the dask backend (python -m tests.conformance.dask_pool):
# MPROC_CLUSTER names a 2-worker LocalCluster, so every process Pool the suite
# makes (in the test process, in its children, in a manager's server) is a
# dask pool on it.
# --------------------------------------------------------------------------
# test._test_multiprocessing base class -> its variants that build a process Pool.
DASK_POOL_CASES: dict[str, tuple[str, ...]] = {
    "_TestPool": ("WithProcessesTestPool", "WithManagerTestPool"),
    "_TestPoolWorkerErrors": ("WithProcessesTestPoolWorkerErrors",),
    "_TestPoolWorkerLifetime": ("WithProcessesTestPoolWorkerLifetime",),
}
# Tests of other classes that make a process Pool.
DASK_PLAIN_TESTS: tuple[str, ...] = (
    "TestInitializers.test_pool_initializer",
    "TestStdinBadfiledescriptor.test_pool_in_process",
    "TestPoolNotLeakOnFailure.test_release_unused_processes",
    "TestSyncManagerTypes.test_pool",
)
# Pool tests not selected, and why.
DASK_NOT_SELECTED: dict[str, str] = {
    "WithThreadsTestPool": "multiprocessing.dummy.Pool is a ThreadPool (threads backend): "
    "MPROC_CLUSTER only turns pools that would start processes into dask pools",
}
# Run after every other test: each terminates a pool while a call sleeps (30 s, 300 s),
# and the pool then restarts that worker through its nanny (the only way to stop a
# call blocked in C), which takes a worker away from the tests after it for a moment.
DASK_RUN_LAST: tuple[str, ...] = ("test_async_timeout", "test_terminate")
# Checks the dask run adds to the suite's tests (reported like tests).
DASK_IDLE_CHECK = "cluster.workers_idle_after_run"
# "Class.test_name" (or a DASK_IDLE_CHECK-style check) -> "intended: ..." / "bug: ...".
# The four "bug:" entries this check found (terminate() not stopping running calls, the
# pickling error wrapped, lambdas crossing back in results, classmethods by value) are
# fixed in the backend; a "bug:" entry that passes is reported.
DASK_KNOWN_FAILURES: dict[str, str] = {
    "WithProcessesTestPool.test_make_pool": (
        "intended: Pool._pool is the list of the cluster's worker addresses (2 here), "
        "not one process per `processes` (the test expects len(p._pool) == 3)"
    ),
    "WithProcessesTestPoolWorkerLifetime.test_pool_worker_lifetime": (
        "intended: maxtasksperchild is refused with ValueError: Dask workers are "
        "long-lived processes other work shares, a pool cannot recycle them"
    ),
    "WithProcessesTestPoolWorkerLifetime.test_pool_worker_lifetime_early_close": (
        "intended: maxtasksperchild is refused with ValueError (see test_pool_worker_lifetime)"
    ),
    "TestPoolNotLeakOnFailure.test_release_unused_processes": (
        "intended: a dask pool starts no processes, so the context's (mocked, failing) "
        "Process is never called and Pool() raises no OSError"
    ),
    "TestInitializers.test_pool_initializer": (
        "intended: the initializer is a worker plugin that runs once in every worker of "
        "the cluster (2 here), not once per `processes` (the test expects 1 for Pool(1); "
        "it passes when the workers' concurrent `ns.test += 1` lose an update)"
    ),
}


SKIPS_FILE = Path(__file__).with_name("stdlib_skips.json")


def _load_skips() -> dict[str, dict[str, Any]]:
    try:
        with open(SKIPS_FILE, encoding="utf-8") as f:
            data: dict[str, dict[str, Any]] = json.load(f)
    except FileNotFoundError:
        return {}
    return data


# python "X.Y" -> {"python": "X.Y.Z" measured, method: sorted skipped ids (whole suite)}
STDLIB_SKIPS: dict[str, dict[str, Any]] = _load_skips()


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
    if ALL in wanted:
        return list(per_method[method])
    return [t for t in per_method[method] if t.split(".", 1)[0] in wanted]


def record_stdlib_skips(report: Mapping[str, Any]) -> int:
    """Store the skips of a ``--stdlib --classes ALL`` runner report in SKIPS_FILE."""
    skipped = sorted(t for t, r in report["tests"].items() if r["outcome"] == "skipped")
    data = _load_skips()
    entry = data.setdefault(report["python_minor"], {})
    entry["python"] = report["python"]
    entry[report["method"]] = skipped
    with open(SKIPS_FILE, "w", encoding="utf-8") as f:
        json.dump(dict(sorted(data.items())), f, indent=1, sort_keys=True)
        f.write("\n")
    STDLIB_SKIPS.clear()
    STDLIB_SKIPS.update(data)
    return len(skipped)


SKIP_PROBLEM = "skips:"


def check(
    report: Mapping[str, Any],
    baseline_skips: Sequence[str] | None,
    known: Mapping[str, str] | None = None,
) -> list[str]:
    """Problems in a runner JSON report (empty list: conformance holds).

    Every test must pass (or be skipped, or be listed in KNOWN_FAILURES, or in
    ``known`` when given: the dask run passes DASK_KNOWN_FAILURES); no test may
    be skipped that the stdlib runs, and the number of skips must not exceed the
    stdlib's for the same selection (problem text starts with SKIP_PROBLEM).
    """
    problems: list[str] = []
    if report.get("missing"):
        problems.append(f"selection entries that match no test: {report['missing']}")
    if not report.get("tests"):
        problems.append("no tests were run")
    if report.get("stubbed"):
        problems.append(f"placeholder modules were used: {report['stubbed']}")
    if report.get("status") != "ok":
        problems.append(f"run status {report.get('status')!r}: {report.get('detail', '')}")
    if known is None:
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
    if baseline_skips is not None:
        extra = sorted(set(skipped) - set(baseline_skips))
        if extra or len(skipped) > len(baseline_skips):
            problems.append(
                f"{SKIP_PROBLEM} {len(skipped)} tests skipped (stdlib: {len(baseline_skips)}); "
                f"skipped here but run by the stdlib: {extra}"
            )
    return problems
