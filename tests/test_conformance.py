"""CPython's own multiprocessing test-suite, run against mproc per start method.

The heavy lifting is in ``tests/conformance/runner.py``; this test runs it in a
subprocess (hard timeout) on the classes of ``tests/conformance/expected.py``
and asserts that every selected test passed or was skipped (or is listed in
``expected.KNOWN_FAILURES``) and that mproc skips no more tests than the
stdlib does for the same selection.

Select with ``pytest -m conformance``; deselect with ``-m "not conformance"``.
Set ``MPROC_CONFORMANCE_RESULTS=<dir>`` to keep the JSON reports and logs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import expected

REPO_ROOT = Path(__file__).resolve().parents[1]
HARD_TIMEOUT = 600  # seconds per runner invocation

try:
    import pytest_timeout  # noqa: F401

    _timeout_marks = [pytest.mark.timeout(2 * HARD_TIMEOUT + 120)]
except ImportError:  # pragma: no cover
    _timeout_marks = []

pytestmark = [pytest.mark.conformance, *_timeout_marks]


def _run(method: str, extra: list[str], outdir: Path, name: str) -> tuple[dict[str, Any], str]:
    report_path, log_path = outdir / f"{name}.json", outdir / f"{name}.log"
    cmd = [
        sys.executable,
        "-m",
        "tests.conformance.runner",
        "--method",
        method,
        "--json",
        str(report_path),
        "--log",
        str(log_path),
        "--total-timeout",
        str(HARD_TIMEOUT - 60),
        *extra,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=HARD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the runner kills its own test processes
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        pytest.fail(f"runner exceeded {HARD_TIMEOUT}s:\n{output[-5000:]}")
    if not report_path.exists():
        pytest.fail(f"runner wrote no report (exit status {proc.returncode}):\n{output[-5000:]}")
    return json.loads(report_path.read_text(encoding="utf-8")), output


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    configured = os.environ.get("MPROC_CONFORMANCE_RESULTS")
    if not configured:
        return tmp_path
    path = Path(configured).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("method", expected.METHODS)
def test_cpython_multiprocessing_suite(method: str, outdir: Path) -> None:
    if method != "spawn" and not hasattr(os, "fork"):
        pytest.skip(f"{method} needs os.fork")
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    classes = expected.expected_classes(method, sys.version_info[:2])
    selection = ["--classes", ",".join(classes)]
    report, output = _run(method, selection, outdir, f"mproc-{version}-{method}")
    if str(report.get("status", "")).startswith("skipped"):
        pytest.skip(report["status"])

    assert report.get("tests"), (  # e.g. mproc or the suite failed to import
        f"runner status {report.get('status')!r}: {report.get('detail', '')}\n{output[-3000:]}"
    )

    def measured_skips() -> list[str]:
        std, std_output = _run(
            method, [*selection, "--stdlib"], outdir, f"stdlib-{version}-{method}"
        )
        assert std.get("status") == "ok", f"stdlib run failed:\n{std_output[-3000:]}"
        return [t for t, r in std["tests"].items() if r["outcome"] == "skipped"]

    stored = expected.stdlib_skips(method, version, classes)
    problems = expected.check(report, stored if stored is not None else measured_skips())
    if stored is not None and any(p.startswith(expected.SKIP_PROBLEM) for p in problems):
        # the stored baseline may come from another patch release: measure it here
        problems = expected.check(report, measured_skips())
    assert not problems, (
        f"{len(problems)} conformance problem(s) under {method!r}:\n  "
        + "\n  ".join(problems)
        + f"\n\nrunner output (tail):\n{output[-3000:]}"
    )
