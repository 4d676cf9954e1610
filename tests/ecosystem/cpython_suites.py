"""Run CPython's own suites of the libraries built on multiprocessing against mproc.

Usage, from the repository root, with the interpreter whose ``test`` package to use::

    python -m tests.ecosystem.cpython_suites [--stdlib] [SUITE ...]

SUITE is one of :data:`SUITES` (default: every one this interpreter ships).  Each
runs as ``python -m test SUITE -v`` in a throw-away virtual environment whose
start-up makes ``import multiprocessing`` mean mproc (the conformance runner's
``_alias_python``), so ``concurrent.futures.process`` and the suite's own helpers
are built on mproc, as under ``python -m mproc run``.  ``--stdlib`` runs the same
selection on the real stdlib, for comparison.

A suite passes when regrtest says SUCCESS and printed no "Uncaught thread
exception" and no "env changed".  The only tests left out are in :data:`EXCUSED`,
each with its reason: they test CPython's own internals, not behaviour a program
can rely on.  Exit status 0 when every suite run passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path

from tests.ecosystem.sessions import Finished, alias_environment, run_in_session

REPO_ROOT = Path(__file__).resolve().parents[2]
SUITES = ("test_concurrent_futures", "test_multiprocessing_main_handling")
HARD_TIMEOUT = 1200  # seconds per suite

# Test-method patterns left out, per suite, each with why.
EXCUSED: dict[str, dict[str, str]] = {
    "test_concurrent_futures": {
        "test_python_finalization_error": (
            "makes the second thread a process starts fail and expects the call queue's "
            "put() to be the one that fails (the stdlib's Queue starts a feeder thread "
            "on its first put); mproc's Queue writes straight to its channel and starts "
            "no thread, so nothing fails and the test's map() meets its own bad call "
            "(mul() with one argument) instead of BrokenProcessPool"
        ),
    },
}

_BAD_SIGNS = ("Warning -- Uncaught thread exception", "env changed")


def shipped(suite: str) -> bool:
    try:
        return importlib.util.find_spec(f"test.{suite}") is not None
    except ImportError:
        return False


def _environment(tmp: str, stdlib: bool) -> tuple[str, dict[str, str]]:
    python, env = alias_environment(tmp, stdlib)
    # the suites import test helpers by name from the repository (tests.conformance)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(REPO_ROOT)]))
    return python, env


def run_suite(suite: str, stdlib: bool = False) -> tuple[bool, str]:
    """Run one suite; (passed, regrtest's output)."""
    with tempfile.TemporaryDirectory(prefix="mproc-cpython-suite-") as tmp:
        python, env = _environment(tmp, stdlib)
        cmd = [python, "-m", "test", suite, "-v", "--timeout", "300"]
        for pattern in EXCUSED.get(suite, {}):
            cmd += ["-i", pattern]
        done = run_in_session(cmd, timeout=HARD_TIMEOUT, cwd=tmp, env=env, merge_stderr=True)
    return verdict(suite, done)


def verdict(suite: str, done: Finished) -> tuple[bool, str]:
    """(passed, output) of a regrtest run: exit status 0, SUCCESS, no bad sign."""
    output = done.stdout
    if done.returncode is None:
        return False, output + f"\n[{suite} exceeded {HARD_TIMEOUT}s and was killed]"
    # "Result: SUCCESS" (3.12+), "Tests result: SUCCESS" (3.10, 3.11)
    ok = done.returncode == 0 and re.search(r"result: SUCCESS", output, re.I) is not None
    ok = ok and not any(sign in output for sign in _BAD_SIGNS)
    return ok, output


def failure_report(output: str, lines: int = 40, tail: int = 6000) -> str:
    """The failing tests and bad signs of a run's output, then its tail."""
    bad = [line for line in output.splitlines()
           if line.startswith(("FAIL:", "ERROR:")) or any(s in line for s in _BAD_SIGNS)]
    return "\n".join(bad[:lines]) + "\n--- tail ---\n" + output[-tail:]


def counts(output: str) -> tuple[int, int, int]:
    """(run, failed, skipped) from unittest's verbose lines."""
    run = len(re.findall(r"\) \.\.\. .*?(?:ok|FAIL|ERROR|skipped.*)$", output, re.M))
    failed = len(re.findall(r"^(?:FAIL|ERROR): ", output, re.M))
    skipped = len(re.findall(r"\) \.\.\. .*?skipped", output, re.M))
    return run, failed, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=", ".join(SUITES))
    parser.add_argument("--stdlib", action="store_true", help="run on the real stdlib")
    args = parser.parse_args(argv)
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}; choose from {SUITES}")
    suites = args.suites or [s for s in SUITES if shipped(s)]
    version = ".".join(map(str, sys.version_info[:3]))
    failures = 0
    for suite in suites:
        if not shipped(suite):
            print(f"{suite}: not shipped with Python {version}")
            continue
        ok, output = run_suite(suite, args.stdlib)
        run, failed, skipped = counts(output)
        target = "stdlib" if args.stdlib else "mproc"
        verdict = "passed" if ok else "FAILED"
        print(f"{suite} on {target}, Python {version}: {verdict} "
              f"({run} tests, {failed} failed, {skipped} skipped, "
              f"{len(EXCUSED.get(suite, {}))} excused)")
        if not ok:
            failures += 1
            print(failure_report(output))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
