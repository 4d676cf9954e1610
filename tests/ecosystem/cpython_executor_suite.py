"""Run CPython's ``test.test_concurrent_futures`` against ``mproc.futures``' executors.

Usage, from the repository root, with the interpreter whose ``test`` package to use::

    python -m tests.ecosystem.cpython_executor_suite [--threads] [-m PATTERN ...]

Unlike :mod:`tests.ecosystem.cpython_suites`, which runs the same suite on the
*stdlib's* executor built on mproc, this one tests mproc's own executor: in the
child interpreter, before the tests import anything, ``concurrent.futures.
ProcessPoolExecutor`` and ``concurrent.futures.process.ProcessPoolExecutor`` are
``mproc.futures.ProcessPoolExecutor`` (with ``--threads`` the ``ThreadPoolExecutor``
names too are mproc's, and the thread-pool classes run as well). The substitution is
a ``.pth`` file in the throw-away virtual environment of ``cpython_suites`` (whose
start-up makes ``import multiprocessing`` mean mproc, so the tests'
``multiprocessing.get_context(...)`` hands the executor mproc's contexts); it is
switched on by an environment variable, so it holds in every interpreter the tests
start with ``sys.executable`` too, under ``-I`` included.

Only the process-pool test classes run (``*ProcessPool*`` and
``FailingInitializerResourcesTest``). The tests left out are in
:data:`INTENDED_DIFFERENCES`, each with its reason and printed on every run: they
check the stdlib's break-everything behaviour (one dead worker fails every future
and makes the executor unusable; mproc's fails only that worker's future and
replaces it) or read the stdlib executor's private machinery (its manager thread,
call and result queues), which mproc's executor does not have. Exit status 0 when
regrtest says SUCCESS with no uncaught thread exception and no "env changed".
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import tempfile
import time

from tests.ecosystem.cpython_suites import _environment, failure_report, shipped, verdict
from tests.ecosystem.sessions import run_in_session

SUITE = "test_concurrent_futures"
HARD_TIMEOUT = 1800  # seconds for the whole run
SWITCH = "MPROC_CF_EXECUTOR"  # "processes" or "processes,threads"

# Which tests run: the process-pool classes (named by the suite's mixins) and the one
# class that builds a ProcessPoolExecutor by hand.
PROCESS_POOL_TESTS = ("*ProcessPool*", "FailingInitializerResourcesTest")
THREAD_POOL_TESTS = ("*ThreadPool*",)

# regrtest ``-i`` patterns (fnmatch on the test id or one of its dotted parts) of the
# tests that check what mproc's executor deliberately does differently, each with why.
INTENDED_DIFFERENCES: dict[str, str] = {
    # the stdlib's break-everything behaviour
    "*ProcessPool*.test_killed_child": (
        "break-everything: after a worker is killed, expects every later submit() to "
        "raise BrokenProcessPool; mproc fails only the killed worker's future "
        "(WorkerLostError, a BrokenProcessPool) and replaces the worker"),
    "*ProcessPool*.test_error_at_task_unpickle": (
        "break-everything: the stdlib's worker dies of an UnpicklingError raised while "
        "loading a task's arguments and its pool breaks (BrokenProcessPool); mproc's "
        "worker survives and that future fails with the UnpicklingError itself"),
    "*ProcessPool*.test_exit_at_task_unpickle": (
        "break-everything: the stdlib's worker exits on a SystemExit raised while "
        "loading a task's arguments and its pool breaks (BrokenProcessPool); mproc's "
        "worker survives and that future fails with the SystemExit itself"),
    # mproc's error contract (the Pool's, tests/test_futures.py's crash matrix)
    "*ProcessPool*.test_exit_during_result_pickle_on_worker": (
        "error contract: a SystemExit raised while pickling a result ends mproc's "
        "worker as it ends a Pool worker, so the future fails with WorkerLostError (a "
        "BrokenProcessPool) and the worker is replaced; the stdlib's worker sends the "
        "SystemExit back as the result"),
    # the stdlib's private internals
    "*ProcessPool*.test_traceback": (
        "internals: asserts the cause is exactly the stdlib's private "
        "concurrent.futures.process._RemoteTraceback; mproc's is mproc.pool."
        "RemoteTraceback with the same .tb (the worker's traceback)"),
    "*ProcessPool*.test_python_finalization_error": (
        "internals: makes the second thread the executor starts fail and expects that "
        "to be the call queue's feeder thread; mproc's executor starts one thread (the "
        "pool's supervisor) and has no call queue"),
    "*ProcessPool*.test_del_shutdown": (
        "internals: joins executor._executor_manager_thread and calls "
        "executor._call_queue.join_thread(); mproc's executor has neither"),
    "*ProcessPool*.test_shutdown_no_wait": (
        "internals: joins executor._executor_manager_thread and calls "
        "executor._call_queue.join_thread(); mproc's executor has neither"),
    "*ProcessPool*.test_shutdown_deadlock_pickle": (
        "internals: joins executor._executor_manager_thread; mproc's executor has none"),
}

# The start-up hook, one line of a .pth file: with SWITCH set, the executors of
# concurrent.futures are mproc's from the first import on.
_SUBSTITUTE = (
    "import concurrent.futures as cf, concurrent.futures.process as cfp\n"
    "import mproc.futures as mf\n"
    "cf.ProcessPoolExecutor = cfp.ProcessPoolExecutor = mf.ProcessPoolExecutor\n"
    "if 'threads' in os.environ[K]:\n"
    "    import concurrent.futures.thread as cft\n"
    "    cf.ThreadPoolExecutor = cft.ThreadPoolExecutor = mf.ThreadPoolExecutor\n"
)
_PTH_LINE = (f"import os; exec({_SUBSTITUTE!r}, {{'os': os, 'K': {SWITCH!r}}}) "
             f"if os.environ.get({SWITCH!r}) else None\n")


def install_substitution(tmp: str) -> None:
    """Put the start-up hook beside the alias's in the venv ``_environment`` made."""
    found = glob.glob(os.path.join(tmp, "venv", "**", "00-mproc-conformance-alias.pth"),
                      recursive=True)
    alias_pth = sorted({os.path.realpath(path) for path in found})  # lib64 -> lib
    if len(alias_pth) != 1:
        raise RuntimeError(f"the alias venv's .pth file is not where expected: {alias_pth}")
    path = os.path.join(os.path.dirname(alias_pth[0]), "01-mproc-futures-executor.pth")
    with open(path, "w", encoding="utf-8") as f:
        f.write(_PTH_LINE)


def _has_walltime() -> bool:
    try:
        from test.libregrtest import cmdline
    except ImportError:
        return False
    return "walltime" in getattr(cmdline, "ALL_RESOURCES", ())


def list_cases(patterns: list[str]) -> list[str]:
    """The ids of the suite's tests that ``patterns`` (regrtest's -m) select."""
    cmd = [sys.executable, "-m", "test", SUITE, "--list-cases"]
    for pattern in patterns:
        cmd += ["-m", pattern]
    with tempfile.TemporaryDirectory(prefix="mproc-cpython-executor-list-") as tmp:
        done = run_in_session(cmd, timeout=300, cwd=tmp)
    return [line for line in done.stdout.splitlines() if line.startswith("test.")]


def counts(output: str) -> tuple[int, int, int]:
    """(run, failed, skipped) from unittest's summaries in regrtest's output."""
    run = sum(int(n) for n in re.findall(r"^Ran (\d+) tests? in ", output, re.M))
    failed = len(re.findall(r"^(?:FAIL|ERROR): ", output, re.M))
    skipped = sum(int(n) for n in re.findall(r"^(?:OK|FAILED) \(.*?skipped=(\d+)", output,
                                                re.M))
    return run, failed, skipped


def run(threads: bool = False, patterns: list[str] | None = None) -> tuple[bool, str]:
    """Run the selection; (passed, regrtest's output)."""
    with tempfile.TemporaryDirectory(prefix="mproc-cpython-executor-") as tmp:
        python, env = _environment(tmp, stdlib=False)
        install_substitution(tmp)
        env[SWITCH] = "processes,threads" if threads else "processes"
        cmd = [python, "-m", "test", SUITE, "-v", "--timeout", "180"]
        if _has_walltime():  # 3.12+: the tests that time the executor's waits
            cmd += ["-u", "walltime"]
        selection = patterns or [*PROCESS_POOL_TESTS, *(THREAD_POOL_TESTS if threads else ())]
        for pattern in selection:
            cmd += ["-m", pattern]
        for pattern in INTENDED_DIFFERENCES:
            cmd += ["-i", pattern]
        done = run_in_session(cmd, timeout=HARD_TIMEOUT, cwd=tmp, env=env, merge_stderr=True)
    return verdict(SUITE, done)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", action="store_true",
                        help="also run the thread-pool classes on mproc's ThreadPoolExecutor")
    parser.add_argument("-m", dest="patterns", action="append", metavar="PATTERN",
                        help="run only the tests matching PATTERN (regrtest's -m)")
    parser.add_argument("--log", metavar="FILE", help="write regrtest's whole output to FILE")
    args = parser.parse_args(argv)
    version = ".".join(map(str, sys.version_info[:3]))
    if not shipped(SUITE):
        print(f"{SUITE}: not shipped with Python {version}")
        return 0
    started = time.monotonic()
    excluded = 0
    print(f"intended differences ({len(INTENDED_DIFFERENCES)} patterns), left out:")
    for pattern, reason in INTENDED_DIFFERENCES.items():
        ids = list_cases([pattern])
        excluded += len(ids)
        print(f"  {pattern} ({len(ids)} tests): {reason}")
        for test_id in ids:
            print(f"      {test_id}")
    ok, output = run(args.threads, args.patterns)
    if args.log:
        with open(args.log, "w", encoding="utf-8") as f:
            f.write(output)
    tests, failed, skipped = counts(output)
    verdict = "passed" if ok else "FAILED"
    target = "mproc.futures" + (" (processes and threads)" if args.threads else "")
    print(f"{SUITE} on {target}, Python {version}: {verdict} "
          f"({tests} tests run, {failed} failed, {skipped} skipped; {excluded} left out "
          f"as intended differences) "
          f"in {time.monotonic() - started:.0f}s")
    if not ok:
        print(failure_report(output, lines=60, tail=8000))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
