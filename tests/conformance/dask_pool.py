"""CPython's Pool tests, run against mproc's dask backend (issue 14).

Usage, from the repository root::

    python -m tests.conformance.dask_pool [--method spawn] [--json out.json]
        [--log inner.log] [--timeout 60] [--total-timeout 0] [-v]

What it does:

1. starts a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
   processes=True)`` on loopback in this process (the supervisor), and records
   the pids of its worker processes;
2. runs the Pool tests of ``test._test_multiprocessing`` through
   :mod:`tests.conformance.runner` (alias, inner interpreter, per-test
   timeouts) with ``MPROC_CLUSTER=<scheduler address>`` in the inner
   interpreter's environment: every process Pool the suite makes - in the test
   process, in a child process, in a manager's server - names no backend, so it
   is a dask pool on that cluster (what ``python -m mproc run --cluster``
   does).  The selection is :data:`expected.DASK_POOL_CASES` and
   :data:`expected.DASK_PLAIN_TESTS`, with :data:`expected.DASK_RUN_LAST` moved
   to the end;
3. checks that mproc tasks did run on the cluster, and that no worker thread
   is still busy with one a few seconds after the run
   (:data:`expected.DASK_IDLE_CHECK`, reported like a test);
4. stops the cluster and checks by pid that none of its processes is left
   (SIGKILLs and reports any);
5. applies :func:`expected.check` with :data:`expected.DASK_KNOWN_FAILURES`
   (each an ``intended:`` difference or a ``bug:``, with its reason) and the
   stdlib's skip baseline.

The cluster's workers get ``MPROC_CONFORMANCE_METHOD`` (set in this process
before they start) so that they, like the suite's own children, can unpickle ``tests.conformance.runner.WithProcessesTestPool``
(the suite sends classmethods of its test classes as tasks); they import the real
stdlib ``multiprocessing`` (a Dask worker is not an mproc process).

Exit status: 0 when every problem list is empty (or when ``distributed`` or the
``test`` package is missing: then it says it skipped), 1 otherwise.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import os
import signal
import sys
import tempfile
import time
import unittest
from typing import Any

from tests.conformance import expected, runner

CLUSTER_ENV = "MPROC_CLUSTER"  # == mproc._pool.front.CLUSTER_ENV
N_WORKERS = 2
IDLE_GRACE = 5.0  # seconds the workers get to finish after the last test
STOP_GRACE = 20.0  # seconds the cluster's processes get to exit after close()
TASK_PREFIX = "mproc-"  # the keys of the dask backend's batches


# --------------------------------------------------------------------------
# The selection
# --------------------------------------------------------------------------


def selection() -> list[str]:
    """Test ids ``Class.test_name`` in run order (DASK_RUN_LAST at the end)."""
    import test._test_multiprocessing as suite

    loader = unittest.TestLoader()
    first: list[str] = []
    last: list[str] = []
    for base, variants in expected.DASK_POOL_CASES.items():
        names = loader.getTestCaseNames(getattr(suite, base))
        for variant in variants:  # one class at a time: its setUpClass runs once
            for name in names:
                (last if name in expected.DASK_RUN_LAST else first).append(f"{variant}.{name}")
    return first + list(expected.DASK_PLAIN_TESTS) + sorted(last, key=_last_key)


def _last_key(test_id: str) -> tuple[int, str]:
    name = test_id.split(".", 1)[1]
    return expected.DASK_RUN_LAST.index(name), test_id


# --------------------------------------------------------------------------
# What runs on the cluster
# --------------------------------------------------------------------------


class _TaskCounter:
    """Scheduler plugin: how many mproc batches went to a worker, finished, failed."""

    name = "mproc-conformance-counter"

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.erred = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if isinstance(key, str) and key.startswith(TASK_PREFIX):
            if finish == "processing":
                self.started += 1
            elif finish == "memory":
                self.finished += 1
            elif finish == "erred":
                self.erred += 1


def _busy_keys(dask_worker: Any) -> list[str]:
    """On a worker: the keys its threads are running now."""
    return [str(key) for key in dict(dask_worker.active_threads).values()]


def _children(pids: set[int]) -> set[int]:
    """Every live descendant of ``pids`` (Linux /proc)."""
    if not os.path.isdir("/proc"):
        return set()
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                    stat = f.read()
                parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    frontier = set(pids)
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    left = {pid for pid in pids if _alive(pid)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {pid for pid in left if _alive(pid)}
    return left


class Cluster:
    """The LocalCluster of one run, its client, and every pid it started."""

    def __init__(self, method: str, verbose: bool) -> None:
        import distributed

        # Set before the workers start: Dask spawns them, and each imports this module
        # (the main module) - and so tests.conformance.runner - before a Nanny's env=
        # would apply; without it the runner module there has no test classes.
        os.environ[runner.ENV_METHOD] = method
        self.cluster = distributed.LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.WARNING if verbose else logging.CRITICAL,
        )
        try:
            self.client = distributed.Client(self.cluster, set_as_default=False)
            self.client.wait_for_workers(N_WORKERS, timeout=60)
            self.address = str(self.cluster.scheduler_address)
            self.pids = set(self.client.run(os.getpid).values())
            self.counter = self._add_counter()
        except BaseException:
            self.cluster.close(timeout=STOP_GRACE)
            raise

    def _add_counter(self) -> _TaskCounter:
        """A _TaskCounter on the scheduler (which runs in this process), added in its loop."""
        from distributed.diagnostics.plugin import SchedulerPlugin
        from distributed.utils import sync

        counter: _TaskCounter = type("TaskCounter", (_TaskCounter, SchedulerPlugin), {})()

        async def add() -> None:
            self.cluster.scheduler.add_plugin(counter, name=_TaskCounter.name)

        loop = self.cluster.loop
        assert loop is not None
        sync(loop, add)
        return counter

    def busy(self) -> dict[str, list[str]]:
        """Worker address -> the mproc keys its threads still run, after IDLE_GRACE."""
        deadline = time.monotonic() + IDLE_GRACE
        while True:
            busy = {
                address: [k for k in keys if k.startswith(TASK_PREFIX)]
                for address, keys in self.client.run(_busy_keys).items()
            }
            busy = {address: keys for address, keys in busy.items() if keys}
            if not busy or time.monotonic() > deadline:
                return busy
            time.sleep(0.2)

    def stop(self) -> list[str]:
        """Close the cluster; the pids left afterwards (killed), as 'pid cmdline'."""
        try:
            self.pids |= set(self.client.run(os.getpid).values())
        except Exception:
            pass
        pids = self.pids | _children(self.pids)
        try:
            self.client.close(timeout=STOP_GRACE)
        finally:
            self.cluster.close(timeout=STOP_GRACE)
        pids |= _children(pids)
        left = _wait_gone(pids, STOP_GRACE)
        described = []
        for pid in sorted(left):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                cmd = "?"
            described.append(f"{pid} {cmd[:200]}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _wait_gone(left, 5.0)
        return described


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.conformance.dask_pool", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--method",
        default="spawn",
        choices=runner.METHODS,
        help="start method of the suite's own processes (children, managers); "
        "Dask starts the cluster's workers itself (default: spawn)",
    )
    p.add_argument("--json", help="write the per-test report here")
    p.add_argument("--log", help="send the inner process's stdout/stderr to this file")
    p.add_argument(
        "--timeout", type=float, default=runner.DEFAULT_TIMEOUT, help="per-test timeout, seconds"
    )
    p.add_argument(
        "--total-timeout", type=float, default=0.0, help="budget of the tests, seconds (0: none)"
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="development aid: run only the selected ids matching this fnmatch pattern",
    )
    p.add_argument("--dry-run", action="store_true", help="only list the selected tests")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def _have_distributed() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the cluster, run the selection on it, stop it: the runner report + more."""
    ids = selection()
    if args.only:
        ids = [t for t in ids if any(fnmatch.fnmatchcase(t, pat) for pat in args.only)]
    report: dict[str, Any] = {
        "method": args.method,
        "mode": "mproc",
        "backend": "dask",
        "python": sys.version.split()[0],
        "python_minor": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "selection": ids,
        "dry_run": args.dry_run,
    }
    inner = runner._parse(
        [
            "--method",
            args.method,
            "--classes",
            ",".join(ids),
            "--timeout",
            str(args.timeout),
            "--total-timeout",
            str(args.total_timeout),
            *(["--log", args.log] if args.log else []),
            *(["--dry-run"] if args.dry_run else []),
            *(["-v"] if args.verbose else []),
        ]
    )
    started = time.monotonic()
    cluster = Cluster(args.method, args.verbose)
    report["cluster"] = {"address": cluster.address, "pids": sorted(cluster.pids)}
    print(
        f"[dask-pool] LocalCluster at {cluster.address}, worker pids {sorted(cluster.pids)} "
        f"({time.monotonic() - started:.1f}s)",
        file=sys.stderr,
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="mproc-conformance-dask-") as tmp:
            python, env = runner._prepare(inner, tmp)
            env[CLUSTER_ENV] = cluster.address
            report.update(runner.supervise(inner, python, env, tmp))
        if not args.dry_run:
            busy = cluster.busy()
            check = {
                "outcome": "failed" if busy else "passed",
                "reason": (
                    f"{IDLE_GRACE:.0f}s after the last test, worker threads still run mproc "
                    f"tasks: {busy}"
                    if busy
                    else ""
                ),
            }
            report["tests"][expected.DASK_IDLE_CHECK] = check
            counter = cluster.counter
            report["cluster"]["tasks"] = {
                "started": counter.started,
                "finished": counter.finished,
                "erred": counter.erred,
            }
    finally:
        left = cluster.stop()
        report["cluster"]["pids"] = sorted(cluster.pids)
        report["cluster"]["left_after_stop"] = left
    report["elapsed_total"] = round(time.monotonic() - started, 1)
    return report


def problems_of(report: dict[str, Any]) -> list[str]:
    problems = expected.check(
        report,
        expected.stdlib_skips(report["method"], report["python_minor"], report.get("classes", [])),
        known=expected.DASK_KNOWN_FAILURES,
    )
    info = report.get("cluster", {})
    if info.get("left_after_stop"):
        problems.append(f"cluster processes left after close() (killed): {info['left_after_stop']}")
    tasks = info.get("tasks", {})
    if not report.get("dry_run") and not tasks.get("started", 0):
        problems.append("no mproc task ran on the cluster: the pools did not use the dask backend")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    for missing, what in (
        (not runner._have_test_package(), f"no test package ({runner.SUITE_MODULE})"),
        (not _have_distributed(), "distributed is not installed (pip install 'pymproc[dask]')"),
    ):
        if missing:
            line = f"skipped: {what}"
            print(line)
            if args.json:
                runner._write_json(args.json, {"status": line, "tests": {}, "summary": {}})
            return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, runner._on_signal)
    report = run(args)
    report["summary"] = counts = runner.summarize(report)
    if args.dry_run:
        print("\n".join(report.get("plan", [])))
        return 0 if report.get("plan") and not report.get("missing") else 1
    report["problems"] = problems = problems_of(report)
    known = expected.DASK_KNOWN_FAILURES
    groups: dict[str, list[str]] = {"intended": [], "bug": [], "listed but passed": []}
    for tid, r in sorted(report["tests"].items()):
        bad = r["outcome"] not in ("passed", "skipped", "expected_failure")
        if tid in known and bad:
            kind = "bug" if known[tid].startswith("bug:") else "intended"
            groups[kind].append(f"{tid}: {r['outcome']}: {r.get('reason', '')[:300]}")
        elif tid in known and not args.dry_run:
            groups["listed but passed"].append(
                f"{tid} ({r['outcome']}; listed as {known[tid][:40]}...)"
            )
    for kind, lines in groups.items():
        for line in lines:
            print(f"  {kind.upper()}: {line}")
    for problem in problems:
        print(f"  CHECK: {problem}")
    info = report.get("cluster", {})
    print(
        f"dask pool conformance ({args.method}): {counts['passed']} passed, "
        f"{counts['skipped']} skipped, {len(groups['intended'])} intended differences, "
        f"{len(groups['bug'])} known bugs, {len(problems)} problems; "
        f"{info.get('tasks', {}).get('started', 0)} batches ran on the cluster; "
        f"{report.get('elapsed_total', 0)}s"
    )
    if args.json:
        runner._write_json(args.json, report)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
