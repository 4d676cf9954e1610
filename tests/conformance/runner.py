"""Run CPython's ``test._test_multiprocessing`` against mproc, per start method.

Usage, from the repository root::

    python -m tests.conformance.runner --method {fork,spawn,forkserver}
        [--classes A,B,...] [--json out.json] [--stdlib] [--check] [-v]

``--classes`` takes CPython class names (``WithProcessesTestProcess``,
``TestWait``), short names (``Process`` = every ``With*TestProcess`` variant
plus ``TestProcess``/``_TestProcess`` if present), ``Class.test_name``
entries, fnmatch patterns, or ``ALL``.  The default is the class list of
:mod:`tests.conformance.expected` for the method.  ``--stdlib`` runs the same
selection against the real stdlib (no alias).  ``--dry-run`` only lists tests.
``--check`` applies :mod:`tests.conformance.expected` (known failures, stdlib
skip baseline) to the exit status.  ``--stdlib --classes ALL
--record-baseline`` stores the stdlib's skips for this Python/method in
``stdlib_skips.json``.  ``--stub-missing`` (development only) replaces mproc
modules that do not exist yet by placeholders so the suite can import.
Exit status: 0 when every test passed or was skipped, 1 otherwise.

How it works.  The command above is the *supervisor*: it prepares an
environment in which ``import multiprocessing`` means mproc from interpreter
start-up, then runs the tests in an *inner* interpreter (its own session, so
the whole process tree can be killed):

* ``PYTHONPATH`` starts with :func:`mproc._alias.shim_dir` (covers fresh
  interpreters the suite starts with ``sys.executable``), and
  ``MPROC_ALIAS_MULTIPROCESSING=1`` is exported (mproc's spawn/forkserver
  bootstrap re-installs the alias in its children);
* the inner interpreter is a throw-away virtual environment (system
  site-packages included) whose ``.pth`` file calls
  ``mproc._alias.install(lazy=True)``: the suite also starts children with
  ``-E``/``-I`` (``script_helper``), which ignore ``PYTHONPATH``.  Only ``-S``
  children (``TestFlags``) get the stdlib.  The inner process checks that a
  fresh ``python -I`` really imports mproc before running anything.
* The inner interpreter imports *this module by name*; at module level it
  calls ``install_tests_in_module_dict(globals(), method)`` when
  ``MPROC_CONFORMANCE_METHOD`` is set, exactly like CPython's
  ``test_multiprocessing_<method>`` modules, so spawned children that unpickle
  ``tests.conformance.runner.WithProcessesTestX`` find the classes.

The inner process streams JSON events (plan, start, result) to a file.  Each
test arms ``faulthandler.dump_traceback_later(timeout)``; if a test produces
no result within ``timeout`` (+ grace) the supervisor kills the inner process
group, records the test as failed with the dumped traceback, and restarts the
inner process on the remaining tests.  A crashing test is handled the same
way.  Children that outlive the run are killed and reported.
"""

from __future__ import annotations

import argparse
import faulthandler
import fnmatch
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from tests.conformance import _stubs

ENV_METHOD = "MPROC_CONFORMANCE_METHOD"
ENV_MODE = "MPROC_CONFORMANCE_MODE"  # "mproc" or "stdlib"
ALIAS_ENV = "MPROC_ALIAS_MULTIPROCESSING"  # == mproc._alias.ALIAS_ENV
METHODS = ("fork", "spawn", "forkserver")
SUITE_MODULE = "test._test_multiprocessing"
REPO_ROOT = Path(__file__).resolve().parents[2]
SRC_DIR = REPO_ROOT / "src"
DEFAULT_TIMEOUT = 60.0
GRACE = 5.0  # after the faulthandler dump, before the supervisor kills
EXIT_GRACE = 30.0  # allowed between the last event and inner-process exit
MAX_RESTARTS = 30
_INNER_BOOT = (
    "import sys; from tests.conformance import runner; sys.exit(runner.inner_main(sys.argv[1:]))"
)

# --------------------------------------------------------------------------
# Module level: create the test classes.  Runs in the inner process and in
# every child process that imports this module to unpickle a test object.
# --------------------------------------------------------------------------
_IMPORT_ERROR: str | None = None
_IMPORT_TRACEBACK = ""
_METHOD = os.environ.get(ENV_METHOD)
if _METHOD:
    try:
        if os.environ.get(ENV_MODE) == "mproc":
            import mproc._alias

            if os.environ.get(_stubs.ENV_STUBS):
                _stubs.install()
            mproc._alias.install()
        import test._test_multiprocessing as _suite

        _suite.install_tests_in_module_dict(globals(), _METHOD)
    except Exception as _exc:  # SkipTest (broken platform), ImportError, ...
        _IMPORT_ERROR = "".join(traceback.format_exception_only(type(_exc), _exc)).strip()
        _IMPORT_TRACEBACK = traceback.format_exc()


# ==========================================================================
# Inner process
# ==========================================================================


def _test_classes() -> dict[str, type[unittest.TestCase]]:
    return {
        name: obj
        for name, obj in globals().items()
        if isinstance(obj, type)
        and issubclass(obj, unittest.TestCase)
        and obj.__module__ == __name__
    }


def _class_candidates(name: str, classes: dict[str, type]) -> list[str]:
    if name == "ALL":
        return list(classes)
    if any(ch in name for ch in "*?["):
        return [c for c in classes if fnmatch.fnmatchcase(c, name)]
    if name in classes:
        return [name]
    short = [f"With{kind}Test{name}" for kind in ("Processes", "Threads", "Manager")]
    short += [f"Test{name}", f"_Test{name}"]
    return [c for c in short if c in classes]


def resolve(selection: Iterable[str]) -> tuple[list[str], list[str]]:
    """Selection entries -> (ordered test ids ``Class.test_name``, unmatched entries)."""
    classes = _test_classes()
    loader = unittest.TestLoader()
    ids: list[str] = []
    missing: list[str] = []
    for entry in selection:
        cls_part, _, test_part = entry.partition(".")
        names = _class_candidates(cls_part, classes)
        found = False
        for cname in names:
            for tname in loader.getTestCaseNames(classes[cname]):
                if not test_part or fnmatch.fnmatchcase(tname, test_part):
                    found = True
                    tid = f"{cname}.{tname}"
                    if tid not in ids:
                        ids.append(tid)
        if not found:
            missing.append(entry)
    return ids, missing


class _Events:
    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def emit(self, **event: Any) -> None:
        self._file.write(json.dumps(event) + "\n")
        self._file.flush()


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_RANK = {
    "passed": 0,
    "expected_failure": 1,
    "skipped": 2,
    "unexpected_success": 3,
    "failed": 4,
    "error": 5,
}


class _Result(unittest.TestResult):
    """Records one event per test; fixture (setUpClass...) problems separately."""

    def __init__(
        self, events: _Events, timeout: float, tb_file: IO[str] | None, verbose: bool
    ) -> None:
        super().__init__()
        self.events = events
        self.timeout = timeout
        self.tb_file = tb_file
        self.verbose = verbose
        self._state: dict[str, Any] = {}

    @staticmethod
    def _id(test: Any) -> str:
        return test.id().removeprefix(__name__ + ".")

    def _set(self, outcome: str, reason: str = "", tb: str = "") -> None:
        st = self._state
        if _RANK[outcome] >= _RANK[st.get("outcome", "passed")]:
            st["outcome"] = outcome
        if reason:
            st.setdefault("reasons", []).append(reason)
        if tb:
            st["traceback"] = (st.get("traceback", "") + tb)[-6000:]

    def _exc(self, test: Any, err: Any) -> tuple[str, str]:
        tb: str = self._exc_info_to_string(err, test)  # type: ignore[attr-defined]
        return _short(traceback.format_exception_only(err[0], err[1])[-1]), tb

    def _fixture(self, test: Any, outcome: str, reason: str, tb: str = "") -> None:
        match = re.match(r"(\w+) \((.*)\)", test.description)
        kind, target = (match.group(1), match.group(2)) if match else (test.description, "")
        target = target.removeprefix(__name__).removeprefix(".")
        self.events.emit(
            event="fixture", kind=kind, target=target, outcome=outcome, reason=reason, traceback=tb
        )
        self._say(f"{test.description} ... {outcome}: {reason}")

    def _say(self, line: str) -> None:
        os.write(2, (line + "\n").encode(errors="replace"))

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self._state = {"t0": time.monotonic()}
        self.events.emit(event="start", id=self._id(test))
        if self.tb_file is not None:
            self.tb_file.write(f"\n=== {self._id(test)} ===\n")
            self.tb_file.flush()
            faulthandler.dump_traceback_later(self.timeout, file=self.tb_file)

    def stopTest(self, test: unittest.TestCase) -> None:
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)
        st = self._state
        outcome = st.get("outcome", "passed")
        result = {
            "outcome": outcome,
            "reason": _short("; ".join(st.get("reasons", [])), 1000),
            "duration": round(time.monotonic() - st["t0"], 3),
        }
        if "traceback" in st:
            result["traceback"] = st["traceback"]
        self.events.emit(event="result", id=self._id(test), **result)
        if self.verbose or outcome not in ("passed", "skipped", "expected_failure"):
            self._say(
                f"{self._id(test)} ... {outcome}{': ' + result['reason'] if result['reason'] else ''}"
            )

    def addSuccess(self, test: unittest.TestCase) -> None:
        self._set("passed")

    def addError(self, test: Any, err: Any) -> None:
        reason, tb = self._exc(test, err)
        if isinstance(test, unittest.TestCase):
            self._set("error", reason, tb)
        else:
            self._fixture(test, "error", reason, tb)

    def addFailure(self, test: Any, err: Any) -> None:
        reason, tb = self._exc(test, err)
        self._set("failed", reason, tb)

    def addSkip(self, test: Any, reason: str) -> None:
        if isinstance(test, unittest.TestCase):
            self._set("skipped", _short(reason))
        else:
            self._fixture(test, "skipped", _short(reason))

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self._set("expected_failure")

    def addUnexpectedSuccess(self, test: Any) -> None:
        self._set("unexpected_success", "unexpected success")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            reason, tb = self._exc(subtest, err)
            failed = issubclass(err[0], test.failureException)
            self._set(
                "failed" if failed else "error", f"{subtest.id().split(' ', 1)[-1]}: {reason}", tb
            )


def _watch_parent(cleanup: list[str]) -> None:
    """If the supervisor dies: remove its temp dirs, kill our group (us + test children)."""
    import _thread
    import shutil

    parent = os.getppid()

    def loop() -> None:  # pragma: no cover - runs in the inner process only
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                for path in cleanup:
                    shutil.rmtree(path, ignore_errors=True)
                os.killpg(os.getpgrp(), signal.SIGKILL)

    _thread.start_new_thread(loop, ())  # invisible to threading.enumerate()


def _alias_problem() -> str:
    """In mproc mode: check the suite and fresh ``-I`` interpreters really get mproc."""
    if os.environ.get(ENV_MODE) != "mproc":
        return ""
    name = _suite.multiprocessing.__name__
    if name != "mproc":
        return f"the suite imported {name!r} ({_suite.multiprocessing.__file__}), not mproc"
    code = "import multiprocessing as m; print(m.__name__)"
    try:
        out = subprocess.run(
            [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return "a fresh `python -I` interpreter did not start within 120s"
    if out.stdout.strip() != "mproc":
        return f"a fresh `python -I` interpreter imports {out.stdout.strip()!r}, not mproc: {out.stderr[-2000:]}"
    return ""


def inner_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="runner (inner)")
    p.add_argument("--events", required=True)
    p.add_argument("--select", default="")
    p.add_argument("--ids-file")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    p.add_argument("--tb-file")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--cleanup", action="append", default=[], help="remove if the supervisor dies")
    args = p.parse_args(argv)
    events = _Events(args.events)
    _watch_parent(args.cleanup)
    # A supervisor started in the background by a non-interactive shell inherits
    # SIGINT=SIG_IGN; tests that expect KeyboardInterrupt need the default handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if _METHOD is None or _IMPORT_ERROR is not None:
        detail = _IMPORT_ERROR or f"{ENV_METHOD} not set"
        events.emit(
            event="fatal", status="import-error", detail=detail, traceback=_IMPORT_TRACEBACK
        )
        os.write(2, f"import of {SUITE_MODULE} failed:\n{_IMPORT_TRACEBACK}".encode())
        return 3
    if args.ids_file:
        with open(args.ids_file, encoding="utf-8") as f:
            ids, missing = json.load(f), list[str]()
    else:
        problem = _alias_problem()
        if problem:
            events.emit(event="fatal", status="alias-broken", detail=problem)
            os.write(2, f"{problem}\n".encode())
            return 3
        ids, missing = resolve(s.strip() for s in args.select.split(",") if s.strip())
        events.emit(
            event="plan",
            ids=ids,
            missing=missing,
            stubbed=_stubs.STUBBED,
            multiprocessing=getattr(_suite.multiprocessing, "__file__", None),
        )
    if missing:
        os.write(2, f"warning: no tests match {missing}\n".encode())
    if not args.dry_run:
        classes = _test_classes()
        suite = unittest.TestSuite()
        for tid in ids:
            cname, tname = tid.split(".", 1)
            suite.addTest(classes[cname](tname))
        tb_file = open(args.tb_file, "w", encoding="utf-8") if args.tb_file else None  # noqa: SIM115
        suite.run(_Result(events, args.timeout, tb_file, args.verbose))
    from test import support

    # set by the suite's tearDownModule on dangling processes/threads (regrtest: ENV_CHANGED)
    events.emit(event="done", environment_altered=bool(support.environment_altered))
    return 0


# ==========================================================================
# Supervisor
# ==========================================================================


def _have_test_package() -> bool:
    try:
        return importlib.util.find_spec(SUITE_MODULE) is not None
    except ImportError:
        return False


def _mproc_root() -> str:
    """Directory that contains the ``mproc`` package (adds src/ to sys.path if needed)."""
    spec = importlib.util.find_spec("mproc")
    if spec is None and (SRC_DIR / "mproc").is_dir():
        sys.path.insert(0, str(SRC_DIR))
        spec = importlib.util.find_spec("mproc")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("mproc is neither installed nor in src/")
    return os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))


def _site_dirs() -> list[str]:
    import site

    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if os.path.isdir(d)]


def _alias_python(tmp: str, mproc_root: str) -> str:
    """A throw-away venv whose start-up installs the alias (also under -E/-I)."""
    import sysconfig
    import venv

    envdir = os.path.join(tmp, "venv")
    venv.EnvBuilder(system_site_packages=True, symlinks=os.name != "nt", with_pip=False).create(
        envdir
    )
    purelib = sysconfig.get_path("purelib", vars={"base": envdir, "platbase": envdir})
    os.makedirs(purelib, exist_ok=True)
    lines = [
        # the supervisor's own site dirs (it may itself run in a venv), .pth files included
        "import site, sys; exec('for d in D:\\n if d not in sys.path: site.addsitedir(d)', "
        f"{{'site': site, 'sys': sys, 'D': {_site_dirs()!r}}})",
        # the same mproc as the supervisor's, ahead of any installed copy
        f"import sys; sys.path.insert(0, {mproc_root!r})",
        "import mproc._alias; mproc._alias.install(lazy=True)",
        # --stub-missing (development aid) must hold in every child too
        f"import os, sys; exec('if os.environ.get(E):\\n sys.path.append(R); import tests.conformance._stubs as s; s.install()', "
        f"{{'os': os, 'sys': sys, 'E': {_stubs.ENV_STUBS!r}, 'R': {str(REPO_ROOT)!r}}})",
    ]
    with open(os.path.join(purelib, "00-mproc-conformance-alias.pth"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    bindir = "Scripts" if os.name == "nt" else "bin"
    return os.path.join(envdir, bindir, "python")


def _prepare(args: argparse.Namespace, tmp: str) -> tuple[str, dict[str, str]]:
    args.cleanup = []
    env = dict(os.environ)
    for key in (ENV_METHOD, ENV_MODE, ALIAS_ENV, _stubs.ENV_STUBS):
        env.pop(key, None)
    env[ENV_METHOD] = args.method
    paths = [str(REPO_ROOT)]
    if args.stdlib:
        env[ENV_MODE] = "stdlib"
        python = sys.executable
    else:
        env[ENV_MODE] = "mproc"
        root = _mproc_root()
        from mproc import _alias

        paths = [_alias.shim_dir(), root, *paths]
        args.cleanup.append(paths[0])
        env[_alias.ALIAS_ENV] = "1"
        if args.stub_missing:
            env[_stubs.ENV_STUBS] = "1"
            # mproc starts spawn/forkserver children with -S unless asked not to; the
            # start-up hook that applies the stubs in children needs `site`.
            env.setdefault("MPROC_SPAWN_SITE", "full")
        python = _alias_python(tmp, root)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    return python, env


def _group_members(pgid: int) -> list[str]:
    """'pid cmdline' of live processes in process group ``pgid`` (Linux /proc; else probe)."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(pgid, 0)
            return [f"? (process group {pgid})"]
        except OSError:
            return []
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            members.append(f"{entry} {cmd[:200]}")
        except (OSError, ValueError, IndexError):
            continue
    return members


def _kill_group(pgid: int) -> None:
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except OSError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_members(pgid):
            time.sleep(0.05)


def _hang_site(dump: str) -> str:
    """'file:line in func' where the test's thread was stuck, from a faulthandler dump."""
    for block in dump.split("\n\n"):
        if "inner_main" in block:
            match = re.search(r'File "([^"]+)", line (\d+) in (\S+)', block)
            if match:
                return f"{os.path.basename(match.group(1))}:{match.group(2)} in {match.group(3)}"
    return ""


def _tail(path: str, marker: str, limit: int = 4000) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    start = text.rfind(marker)
    return (text[start:] if start >= 0 else text)[-limit:]


class _Interrupted(Exception):
    pass


def _on_signal(signum: int, frame: Any) -> None:
    raise _Interrupted(signal.Signals(signum).name)


def supervise(
    args: argparse.Namespace, python: str, env: dict[str, str], tmp: str
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "status": "ok",
        "detail": "",
        "tests": {},
        "fixture_errors": [],
        "stray_processes": [],
        "restarts": 0,
        "environment_altered": False,
    }
    results: dict[str, dict[str, Any]] = report["tests"]
    fixtures: list[dict[str, Any]] = []
    plan: list[str] | None = None
    started_run = time.monotonic()
    attempt = 0
    log = open(args.log, "wb") if args.log else None  # noqa: SIM115
    proc: subprocess.Popen[bytes] | None = None
    try:
        while True:
            attempt += 1
            events_path = os.path.join(tmp, f"events-{attempt}.jsonl")
            tb_path = os.path.join(tmp, f"tracebacks-{attempt}.txt")
            cmd = [
                python,
                "-c",
                _INNER_BOOT,
                "--events",
                events_path,
                "--tb-file",
                tb_path,
                "--timeout",
                str(args.timeout),
            ]
            if plan is None:
                cmd += ["--select", args.classes]
            else:
                ids_path = os.path.join(tmp, f"ids-{attempt}.json")
                with open(ids_path, "w", encoding="utf-8") as f:
                    json.dump([t for t in plan if t not in results], f)
                cmd += ["--ids-file", ids_path]
            if args.dry_run:
                cmd.append("--dry-run")
            if args.verbose:
                cmd.append("-v")
            for path in (tmp, *args.cleanup):
                cmd += ["--cleanup", path]
            open(events_path, "w").close()
            proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=True,
            )
            current: str | None = None
            done = False
            progressed = False
            last_event = time.monotonic()
            hung = ""
            buf = ""
            with open(events_path, encoding="utf-8") as evf:
                while True:
                    exited = proc.poll() is not None
                    buf += evf.read()
                    *lines, buf = buf.split("\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        ev = json.loads(line)
                        last_event = time.monotonic()
                        kind = ev.pop("event")
                        if kind == "plan" and plan is None:
                            plan = ev["ids"]
                            report["missing"] = ev["missing"]
                            report["classes"] = list(
                                dict.fromkeys(t.split(".", 1)[0] for t in plan)
                            )
                            report["multiprocessing"] = ev["multiprocessing"]
                            report["stubbed"] = ev["stubbed"]
                        elif kind == "start":
                            current = ev["id"]
                        elif kind == "result":
                            results[ev.pop("id")] = ev
                            current, progressed = None, True
                        elif kind == "fixture":
                            fixtures.append(ev)
                            progressed = True
                        elif kind == "fatal":
                            report["status"], report["detail"] = ev["status"], ev["detail"]
                        elif kind == "done":
                            done = True
                            if ev.get("environment_altered"):
                                report["environment_altered"] = True
                    if exited:
                        break
                    now = time.monotonic()
                    limit = EXIT_GRACE if done else args.timeout + GRACE
                    if now - last_event > limit:
                        hung = (
                            "did not exit after finishing"
                            if done
                            else f"no progress for {limit:.0f}s"
                        )
                        break
                    if args.total_timeout and now - started_run > args.total_timeout:
                        hung = f"total timeout {args.total_timeout:.0f}s exceeded"
                        break
                    time.sleep(0.1)
            if hung:
                print(
                    f"[conformance] inner process {hung}; killing it", file=sys.stderr, flush=True
                )
                if done:
                    report.setdefault("warnings", []).append(
                        f"inner process {hung} (killed after {EXIT_GRACE:.0f}s)"
                    )
            stray = _group_members(proc.pid)
            if stray and not hung:
                time.sleep(2.0)  # forkserver / resource tracker exit on EOF
                stray = _group_members(proc.pid)
            if stray and not hung:
                report["stray_processes"].extend(stray)
            _kill_group(proc.pid)
            rc = proc.wait()
            if current is not None:
                if hung:
                    reason = (
                        f"timeout: no result after {args.timeout:.0f}s"
                        if not hung.startswith("total")
                        else hung
                    )
                    outcome = "failed"
                else:
                    reason, outcome = (
                        f"inner process died (exit status {rc}) during the test",
                        "error",
                    )
                dump = _tail(tb_path, f"=== {current} ===")
                site = _hang_site(dump)
                reason += f" (stuck at {site})" if site else ""
                results[current] = {"outcome": outcome, "reason": reason, "traceback": dump}
                progressed = True
            if hung.startswith("total"):
                report["status"], report["detail"] = "timeout", hung
                break
            if done or plan is None:
                if plan is None and report["status"] == "ok":
                    report["status"], report["detail"] = (
                        "crashed",
                        f"inner process exited with {rc} before planning",
                    )
                break
            pending = [t for t in plan if t not in results]
            if not pending:
                break
            if not progressed:  # died/hung between tests: blame the next one
                results[pending[0]] = {
                    "outcome": "error",
                    "reason": f"inner process {'hung' if hung else f'died ({rc})'} before this test started",
                }
            report["restarts"] += 1
            if report["restarts"] > MAX_RESTARTS:
                report["status"], report["detail"] = "crashed", "too many restarts"
                break
            print(
                f"[conformance] restarting on {len(pending)} remaining tests",
                file=sys.stderr,
                flush=True,
            )
    except (_Interrupted, KeyboardInterrupt) as exc:
        report["status"], report["detail"] = "interrupted", str(exc) or "KeyboardInterrupt"
    finally:
        if proc is not None and proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
        if log:
            log.close()
    report["plan"] = plan or []
    _apply_fixtures(plan or [], results, fixtures, report, args.dry_run)
    report["elapsed"] = round(time.monotonic() - started_run, 1)
    return report


def _apply_fixtures(
    plan: list[str],
    results: dict[str, Any],
    fixtures: list[dict[str, Any]],
    report: dict[str, Any],
    dry_run: bool,
) -> None:
    """Tests never run because setUpModule/setUpClass failed or skipped inherit that outcome."""
    for fx in fixtures:
        if fx["kind"] in ("setUpModule", "setUpClass"):
            for tid in plan:
                if tid not in results and (
                    fx["kind"] == "setUpModule" or tid.split(".", 1)[0] == fx["target"]
                ):
                    results[tid] = {
                        "outcome": fx["outcome"],
                        "reason": f"{fx['kind']}: {fx['reason']}",
                    }
        elif fx["outcome"] == "error":
            report["fixture_errors"].append(
                {
                    "id": f"{fx['kind']} ({fx['target']})",
                    "reason": fx["reason"],
                    "traceback": fx.get("traceback", ""),
                }
            )
    if not dry_run:
        for tid in plan:
            if tid not in results:
                status = report["status"]
                results[tid] = {
                    "outcome": "error",
                    "reason": "not run" + ("" if status == "ok" else f" ({status})"),
                }


def summarize(report: dict[str, Any]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    key = {
        "passed": "passed",
        "expected_failure": "passed",
        "failed": "failed",
        "unexpected_success": "failed",
        "error": "errors",
        "skipped": "skipped",
    }
    for result in report["tests"].values():
        counts[key[result["outcome"]]] += 1
    counts["errors"] += len(report["fixture_errors"])
    return counts


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.conformance.runner", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument(
        "--classes",
        help="comma-separated class names/short names/patterns/ALL (default: expected.py)",
    )
    p.add_argument("--json", help="write the per-test report here")
    p.add_argument(
        "--stdlib", action="store_true", help="run against the real stdlib multiprocessing"
    )
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="per-test timeout, seconds"
    )
    p.add_argument(
        "--total-timeout", type=float, default=0.0, help="whole-run budget, seconds (0: none)"
    )
    p.add_argument("--log", help="send the inner process's stdout/stderr to this file")
    p.add_argument(
        "--check", action="store_true", help="apply expected.py: known failures + stdlib skip limit"
    )
    p.add_argument(
        "--record-baseline",
        action="store_true",
        help="with --stdlib --classes ALL: store the skipped ids in stdlib_skips.json",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="only resolve and list the selected tests"
    )
    p.add_argument(
        "--stub-missing",
        action="store_true",
        help="development aid: placeholder modules for mproc modules not written yet",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from tests.conformance import expected

    args = _parse(argv)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if args.record_baseline and not (args.stdlib and args.classes == "ALL"):
        print("--record-baseline needs --stdlib --classes ALL", file=sys.stderr)
        return 2
    if not args.classes:
        args.classes = ",".join(expected.expected_classes(args.method, sys.version_info[:2]))
    base: dict[str, Any] = {
        "method": args.method,
        "mode": "stdlib" if args.stdlib else "mproc",
        "python": sys.version.split()[0],
        "python_minor": version,
        "selection": args.classes,
        "dry_run": args.dry_run,
    }
    if not _have_test_package():
        line = f"skipped: no test package ({SUITE_MODULE} is not shipped with {sys.executable})"
        print(line)
        if args.json:
            _write_json(args.json, {**base, "status": line, "tests": {}, "summary": {}})
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    with tempfile.TemporaryDirectory(prefix="mproc-conformance-") as tmp:
        try:
            python, env = _prepare(args, tmp)
        except Exception as exc:  # mproc not importable
            report = {
                **base,
                "status": "import-error",
                "detail": f"{type(exc).__name__}: {exc}",
                "tests": {},
                "fixture_errors": [],
            }
        else:
            report = {**base, **supervise(args, python, env, tmp)}
    report["summary"] = counts = summarize(report)
    tests = report["tests"]
    if args.dry_run:
        print("\n".join(report.get("plan", [])))
    for tid, r in sorted(tests.items()):
        if r["outcome"] in ("failed", "error", "unexpected_success"):
            print(f"  {r['outcome'].upper()}: {tid}: {r.get('reason', '')}")
    for fx in report.get("fixture_errors", []):
        print(f"  ERROR: {fx['id']}: {fx['reason']}")
    if report.get("missing"):
        print(f"  no tests match: {', '.join(report['missing'])}")
    if report.get("stubbed"):
        print(f"  STUBBED (not a valid conformance run): mproc.{{{','.join(report['stubbed'])}}}")
    if report.get("environment_altered"):
        print("  warning: the suite reported dangling processes/threads (environment altered)")
    if report.get("stray_processes"):
        print(f"  stray processes killed after the run: {len(report['stray_processes'])}")
    if report["status"] != "ok":
        print(f"  run status: {report['status']}: {report.get('detail', '')}")
    mode = " [stdlib]" if args.stdlib else ""
    print(
        f"{args.method}: {counts['passed']} passed, {counts['failed']} failed, {counts['errors']} errors, {counts['skipped']} skipped{mode}"
    )
    ok = report["status"] == "ok" and counts["failed"] == 0 and counts["errors"] == 0
    ok = ok and not report.get("missing") and bool(report.get("plan"))
    if args.record_baseline:
        if not ok:
            print("  not recording a baseline from a run with failures", file=sys.stderr)
            return 1
        n = expected.record_stdlib_skips(report)
        print(
            f"  recorded {n} stdlib skips for Python {version}/{args.method} in {expected.SKIPS_FILE}"
        )
    if args.check:
        baseline = expected.stdlib_skips(args.method, version, report.get("classes", []))
        problems = expected.check(report, baseline)
        report["problems"] = problems
        if baseline is None:
            print(f"  note: no stored stdlib skip baseline for Python {version}/{args.method}")
        for problem in problems:
            print(f"  CHECK: {problem}")
        ok = not problems
    if args.json:
        _write_json(args.json, report)
    return 0 if ok else 1


def _write_json(path: str, report: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main())
