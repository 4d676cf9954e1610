"""Run joblib's own tests against mproc (through the alias) and against the stdlib.

Usage, from the repository root::

    python -m tests.ecosystem.joblib_suite [--all] [--only mproc|stdlib] [-k EXPR] [MODULE ...]

MODULE is one of :data:`MODULES` (default: both). Each runs as
``python -m pytest -x -q -p no:cacheprovider --pyargs joblib.test.MODULE``, once in
a throw-away virtual environment whose start-up makes ``import multiprocessing``
mean mproc (the conformance runner's ``_alias_python``; ``MPROC_ALIAS_MULTIPROCESSING=1``
too), so joblib, its vendored loky and every worker they start run on mproc, as
under ``python -m mproc run``; and once on the real stdlib, for comparison.
``--all`` drops ``-x`` (every test runs, so the counts compare); ``-k`` selects a
subset while iterating. Prints one line of counts per module and target; exit status
0 when every mproc run passed. Skips (exit 0) when joblib is not installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
from pathlib import Path

from tests.ecosystem.sessions import alias_environment, run_in_session

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = ("test_parallel", "test_memmapping")
HARD_TIMEOUT = 3600  # seconds per module and target
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?|warnings?|deselected)")


def run_module(module: str, stdlib: bool, stop_first: bool = True,
               keyword: str | None = None) -> tuple[int, str]:
    """Run one joblib test module; (pytest's exit status, its output)."""
    with tempfile.TemporaryDirectory(prefix="mproc-joblib-suite-") as tmp:
        python, env = alias_environment(tmp, stdlib)
        cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE",
               "--pyargs", f"joblib.test.{module}"]
        if stop_first:
            cmd.insert(3, "-x")
        if keyword:
            cmd += ["-k", keyword]
        done = run_in_session(cmd, timeout=HARD_TIMEOUT, cwd=tmp, env=env, merge_stderr=True)
    if done.returncode is None:
        return -9, done.stdout + f"\n[{module} exceeded {HARD_TIMEOUT}s and was killed]"
    return done.returncode, done.stdout


def counts(output: str) -> dict[str, int]:
    """pytest's summary line as {outcome: n} (``error``/``errors`` merged)."""
    found: dict[str, int] = {}
    lines = [line for line in output.splitlines() if " in " in line and _COUNT.search(line)]
    for number, outcome in _COUNT.findall(lines[-1] if lines else ""):
        outcome = outcome.rstrip("s") if outcome.startswith(("error", "warning")) else outcome
        found[outcome] = found.get(outcome, 0) + int(number)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--all", action="store_true", help="run every test (no -x)")
    parser.add_argument("--only", choices=("mproc", "stdlib"), help="one target only")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s): {', '.join(sorted(unknown))}; choose from {MODULES}")
    if importlib.util.find_spec("joblib") is None:
        print("joblib is not installed: nothing to run")
        return 0
    version = ".".join(map(str, sys.version_info[:3]))
    targets = [t for t in ("mproc", "stdlib") if args.only in (None, t)]
    failures = 0
    for module in args.modules or MODULES:
        for target in targets:
            status, output = run_module(module, target == "stdlib", not args.all, args.keyword)
            found = counts(output)
            summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(found.items()))
            verdict = "passed" if status == 0 else f"FAILED (exit {status})"
            print(f"joblib.test.{module} on {target}, Python {version}: {verdict}: "
                  f"{summary or 'no summary'}", flush=True)
            if status != 0:
                failures += target == "mproc"
                bad = [line for line in output.splitlines()
                       if line.startswith(("FAILED ", "ERROR "))]
                print("\n".join(bad[:60]) + "\n--- tail ---\n" + output[-4000:], flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
