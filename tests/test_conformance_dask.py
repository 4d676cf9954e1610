"""CPython's Pool tests, run against mproc's dask backend (issue 14).

``tests/conformance/dask_pool.py`` does the work: it starts a 2-worker
``LocalCluster`` on loopback, runs the Pool tests of ``test._test_multiprocessing``
through the conformance runner with ``MPROC_CLUSTER`` pointing at it (so every
process Pool the suite makes is a dask pool), stops the cluster and checks by pid
that nothing is left.  This test runs it in a subprocess of its own session (hard
timeout, killed as a group) and asserts that its check found no problem: every test
passed or skipped, or is listed in ``expected.DASK_KNOWN_FAILURES`` as an intended
difference or a known bug.

Select with ``pytest -m conformance``; set ``MPROC_CONFORMANCE_RESULTS=<dir>`` to keep
the JSON report and the inner log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TOTAL_TIMEOUT = 150  # the tests' budget inside the run (about 35 s here)
HARD_TIMEOUT = TOTAL_TIMEOUT + 60  # the whole run: cluster start and stop included

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(HARD_TIMEOUT + 60)]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _kill_group(pgid: int) -> None:
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    configured = os.environ.get("MPROC_CONFORMANCE_RESULTS")
    if not configured:
        return tmp_path
    path = Path(configured).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the run's checks use POSIX process groups")
def test_cpython_pool_tests_on_the_dask_backend(outdir: Path) -> None:
    for module in ("distributed", "test._test_multiprocessing"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            pytest.skip(f"{module} is not available")
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    report_path = outdir / f"dask-pool-{version}.json"
    log_path = outdir / f"dask-pool-{version}.log"
    report_path.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "tests.conformance.dask_pool",
        "--json",
        str(report_path),
        "--log",
        str(log_path),
        "--timeout",
        "60",
        "--total-timeout",
        str(TOTAL_TIMEOUT),
    ]
    env = dict(os.environ)
    env.pop("MPROC_CLUSTER", None)  # the run makes its own cluster
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the supervisor and the cluster's workers: one group
    )
    try:
        output, _ = proc.communicate(timeout=HARD_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)  # SIGTERM first: the supervisor stops the cluster and tests
        output, _ = proc.communicate()
        pytest.fail(f"the dask pool run exceeded {HARD_TIMEOUT}s:\n{output[-5000:]}")
    finally:
        if proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
    elapsed = time.monotonic() - started
    print(output[-5000:])
    if not report_path.exists():
        pytest.fail(f"the run wrote no report (exit status {proc.returncode}):\n{output[-5000:]}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    if str(report.get("status", "")).startswith("skipped"):
        pytest.skip(report["status"])

    # Nothing of the run is left: the supervisor's group (it and the cluster's workers)
    # and every worker pid the run saw.
    deadline = time.monotonic() + 10
    pids = set(report.get("cluster", {}).get("pids", []))
    while time.monotonic() < deadline and (
        _group_alive(proc.pid) or any(_alive(pid) for pid in pids)
    ):
        time.sleep(0.1)
    left = sorted(pid for pid in pids if _alive(pid))
    group_left = _group_alive(proc.pid)
    if group_left:
        _kill_group(proc.pid)
    assert not left and not group_left, (
        f"the run left processes behind: {left} (group: {group_left})"
    )
    assert pids, "the report names no cluster worker pids"

    problems = report.get("problems")
    assert problems == [], (
        f"{len(problems or [])} problem(s) in the dask pool run (exit status "
        f"{proc.returncode}):\n  "
        + "\n  ".join(problems or ["(no problem list)"])
        + f"\n\noutput (tail):\n{output[-3000:]}"
    )
    assert proc.returncode == 0, output[-3000:]
    assert len(report["tests"]) > 40, f"only {len(report['tests'])} tests ran"
    assert elapsed < HARD_TIMEOUT
