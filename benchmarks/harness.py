"""Benchmark framework: registry, isolated runner, comparison table.

A *workload* is a function ``fn(mp, **params) -> Measurement``.  ``mp`` is the
library module under test -- ``mproc`` or the stdlib ``multiprocessing`` --
and the function must only use it through that argument (never import
``multiprocessing`` itself), so the very same code measures both.

Every single measurement runs in a fresh interpreter
(``python -m benchmarks._worker``) so import state, forkserver and
resource-tracker warm-up, and any leak of one library can never influence
the other.  Repeats are interleaved (candidate, baseline, candidate, ...),
the median per library is taken, and the speedup candidate/baseline is
compared against the workload's target.

Adding workloads: create ``benchmarks/workloads_<topic>.py`` and decorate
functions with :func:`workload`; modules matching ``workloads_*`` are
discovered automatically.  Process targets must be importable top-level
functions (put them in ``benchmarks/_children.py`` or another light module
of this package), never defined in ``__main__``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import pkgutil
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

PACKAGE = __name__.rpartition(".")[0] or "benchmarks"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(PACKAGE_DIR)
SRC_DIR = os.path.join(REPO_ROOT, "src")

CANDIDATE = "mproc"
BASELINE = "multiprocessing"

DEFAULT_REPEAT = 7
DEFAULT_TIMEOUT = 120.0
QUICK_TIMEOUT = 60.0
# Seconds a measurement's leftover processes (forkserver, resource tracker,
# leaked children) get to exit on their own after the worker has exited.
STRAY_GRACE = 3.0


# --------------------------------------------------------------------------
# Workload API
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Measurement:
    """Result of one run of a workload.

    ``units`` of work were done in ``seconds`` of wall time (the workload
    times only the region of interest, excluding its own setup/warm-up).

    The reported value is ``units / seconds`` when ``higher_is_better``
    (a rate: "proc/s", "msg/s", "GB/s") and ``seconds / units`` otherwise
    (a cost: "s/proc"), multiplied by ``scale`` (e.g. ``1e6`` for "us/msg").
    ``unit`` / ``higher_is_better`` / ``scale`` default to what the workload
    was registered with.
    """

    units: float
    seconds: float
    unit: str | None = None
    higher_is_better: bool | None = None
    scale: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def value(self) -> float:
        scale = 1.0 if self.scale is None else self.scale
        if self.higher_is_better is False:
            return self.seconds / self.units * scale
        return self.units / self.seconds * scale


class Skip(Exception):
    """Raise from a workload when it cannot run here (e.g. start method missing)."""


@dataclasses.dataclass
class Workload:
    name: str
    fn: Callable[..., Measurement]
    target: float
    unit: str
    higher_is_better: bool = True
    scale: float = 1.0
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    quick: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""

    def params_for(self, quick: bool) -> dict[str, Any]:
        p = dict(self.params)
        if quick:
            p.update(self.quick)
        return p


REGISTRY: dict[str, Workload] = {}


def workload(
    name: str,
    *,
    target: float,
    unit: str,
    higher_is_better: bool = True,
    scale: float = 1.0,
    params: dict[str, Any] | None = None,
    quick: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Measurement]], Callable[..., Measurement]]:
    """Register ``fn(mp, **params) -> Measurement`` as a workload.

    ``target`` is the minimum speedup (mproc relative to stdlib, >1 means
    mproc is better) required to PASS.  ``params`` are the keyword arguments
    of a normal run; ``quick`` overrides them for ``--quick`` smoke runs.
    """

    def deco(fn: Callable[..., Measurement]) -> Callable[..., Measurement]:
        if name in REGISTRY and REGISTRY[name].fn is not fn:
            raise ValueError(f"duplicate benchmark workload name {name!r}")
        doc = (fn.__doc__ or "").strip()
        REGISTRY[name] = Workload(
            name=name,
            fn=fn,
            target=float(target),
            unit=unit,
            higher_is_better=higher_is_better,
            scale=scale,
            params=dict(params or {}),
            quick=dict(quick or {}),
            description=doc.splitlines()[0] if doc else "",
        )
        return fn

    return deco


def discover() -> dict[str, Workload]:
    """Import every ``benchmarks/workloads_*.py`` module and return the registry."""
    for info in sorted(pkgutil.iter_modules([PACKAGE_DIR]), key=lambda i: i.name):
        if info.name.startswith("workloads_"):
            importlib.import_module(f"{PACKAGE}.{info.name}")
    return REGISTRY


def speedup(candidate: float, baseline: float, higher_is_better: bool) -> float:
    """Speedup of candidate over baseline; > 1 means the candidate is better."""
    if higher_is_better:
        return candidate / baseline
    return baseline / candidate


# --------------------------------------------------------------------------
# Isolated execution
# --------------------------------------------------------------------------


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [REPO_ROOT]
    if os.path.isdir(SRC_DIR):
        paths.append(SRC_DIR)
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _session_processes(sid: int) -> list[tuple[int, str]]:
    """Live (non-zombie) processes of session ``sid`` (Linux /proc only)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may contain spaces.
        rest = stat[stat.rfind(")") + 2 :].split()
        if len(rest) < 4 or rest[0] == "Z":
            continue
        if int(rest[2]) == sid or int(rest[3]) == sid:
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                cmd = "?"
            found.append((int(entry), cmd[:160]))
    return found


def _reap_session(sid: int, grace: float) -> list[str]:
    """Wait up to ``grace`` s for the session to empty, then SIGKILL stragglers.

    Returns descriptions of processes that had to be killed.
    """
    if not os.path.isdir("/proc"):
        try:
            os.killpg(sid, signal.SIGKILL)
        except OSError:
            pass
        return []
    deadline = time.monotonic() + grace
    procs = _session_processes(sid)
    while procs and time.monotonic() < deadline:
        time.sleep(0.05)
        procs = _session_processes(sid)
    killed = []
    for pid, cmd in procs:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(f"pid {pid}: {cmd}")
        except OSError:
            pass
    return killed


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_isolated(lib: str, wl: Workload, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one measurement of ``wl`` for library ``lib`` in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="mproc-bench-") as tmp:
        out_path = os.path.join(tmp, "result.json")
        cmd = [
            sys.executable,
            "-m",
            f"{PACKAGE}._worker",
            "--lib",
            lib,
            "--workload",
            wl.name,
            "--params",
            json.dumps(params),
            "--out",
            out_path,
        ]
        # stdout/stderr go to files, not pipes: a leaked grandchild holding a
        # pipe open must not be able to hang the harness.
        with open(os.path.join(tmp, "stdout"), "w+b") as fout, open(
            os.path.join(tmp, "stderr"), "w+b"
        ) as ferr:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=fout,
                stderr=ferr,
                cwd=REPO_ROOT,
                env=_worker_env(),
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait()
            except BaseException:  # KeyboardInterrupt: do not leave the worker behind
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait()
                raise
            wall = time.perf_counter() - t0
            strays = _reap_session(proc.pid, 0.0 if timed_out else STRAY_GRACE)
            fout.seek(0)
            ferr.seek(0)
            stdout = fout.read().decode(errors="replace")
            stderr = ferr.read().decode(errors="replace")

        result: dict[str, Any]
        if timed_out:
            result = {"status": "error", "error": f"timed out after {timeout:.0f}s"}
            if stderr.strip():
                result["error"] += "\n" + _tail(stderr)
        elif os.path.exists(out_path):
            with open(out_path) as f:
                result = json.load(f)
            if proc.returncode != 0 and result.get("status") == "ok":
                result = {
                    "status": "error",
                    "error": f"worker exited with code {proc.returncode} after reporting a result\n"
                    + _tail(stderr),
                }
        else:
            result = {
                "status": "error",
                "error": f"worker exited with code {proc.returncode} without a result\n"
                + _tail(stderr or stdout),
            }
        result["wall"] = wall
        result["stray_processes"] = strays
        return result


def preflight(lib: str) -> str | None:
    """Return an error text if ``lib`` cannot even be imported in a fresh interpreter."""
    code = f"import {lib}"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=_worker_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return f"`{code}` timed out"
    if proc.returncode != 0:
        return f"`{code}` failed:\n" + _tail(proc.stderr, 8)
    return None


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _spread(values: list[float]) -> str:
    if len(values) < 2:
        return ""
    med = statistics.median(values)
    if med == 0:
        return ""
    return f"±{(max(values) - min(values)) / 2 / med * 100:.0f}%"


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (OSError, AttributeError):
        return "?"


def _print_table(rows: list[dict[str, Any]], labels: tuple[str, str], file=sys.stdout) -> None:
    headers = ["workload", "unit", labels[0], labels[1], "speedup", "target", "status"]
    table = []
    for r in rows:
        c, b = r["libs"][0], r["libs"][1]
        table.append(
            [
                r["name"],
                r["unit"] + ("" if r["higher_is_better"] else " (lower=better)"),
                (_fmt(c["median"]) + " " + _spread(c["values"])).strip(),
                (_fmt(b["median"]) + " " + _spread(b["values"])).strip(),
                "-" if r["speedup"] is None else f"{r['speedup']:.2f}x",
                f">={r['target']:.2f}x",
                r["status"],
            ]
        )
    widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h) for i, h in enumerate(headers)]
    right = {2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    print(line(headers), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for t in table:
        print(line(t), file=file)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark mproc against the stdlib multiprocessing, side by side.",
    )
    p.add_argument("patterns", nargs="*", metavar="workload",
                   help="run only workloads whose name contains one of these substrings")
    p.add_argument("--quick", action="store_true",
                   help="CI smoke mode: tiny sizes, 1 repeat; proves everything runs, numbers are meaningless")
    p.add_argument("--repeat", type=int, default=None,
                   help=f"measurements per library per workload (default {DEFAULT_REPEAT}, 1 with --quick)")
    p.add_argument("--json", metavar="FILE", help="also write all raw results to FILE as JSON")
    p.add_argument("--list", action="store_true", help="list workloads and exit")
    p.add_argument("--check", action="store_true",
                   help="exit non-zero if any workload errors or misses its target "
                        "(with --quick: only if any workload errors)")
    p.add_argument("--timeout", type=float, default=None,
                   help=f"seconds per measurement before it is killed (default {DEFAULT_TIMEOUT:.0f}, "
                        f"{QUICK_TIMEOUT:.0f} with --quick)")
    # Hidden: "candidate,baseline" module names, e.g. multiprocessing,multiprocessing
    # to self-test the harness (expect speedups around 1.0x).
    p.add_argument("--libs", default=f"{CANDIDATE},{BASELINE}", help=argparse.SUPPRESS)
    return p


def _precompile() -> None:
    """Compile mproc to bytecode once, as any regular install does.

    With an editable install and PYTHONDONTWRITEBYTECODE set (as on our CI
    machines), every fresh interpreter would otherwise compile mproc from source
    while the stdlib ships bytecode: a handicap that no user has.
    """
    import compileall

    compileall.compile_dir(SRC_DIR, quiet=1)
    # The workloads' child targets too: both libraries' children import them.
    compileall.compile_dir(os.path.join(REPO_ROOT, "benchmarks"), quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    registry = discover()

    selected = [
        wl for wl in registry.values()
        if not args.patterns or any(pat in wl.name for pat in args.patterns)
    ]
    if args.list:
        for wl in registry.values():
            direction = "" if wl.higher_is_better else ", lower is better"
            print(f"{wl.name:<36} target >={wl.target:.2f}x  [{wl.unit}{direction}]  params={wl.params}")
            if wl.description:
                print(f"{'':<36} {wl.description}")
        return 0
    if not selected:
        print(f"no workload matches {args.patterns}; see --list", file=sys.stderr)
        return 2

    libs = tuple(x.strip() for x in args.libs.split(","))
    if len(libs) != 2 or not all(libs):
        print("--libs needs exactly two comma-separated module names", file=sys.stderr)
        return 2
    labels = (libs[0], libs[1]) if libs[0] != libs[1] else (f"{libs[0]}#1", f"{libs[1]}#2")
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else DEFAULT_REPEAT)
    repeat = max(1, repeat)
    timeout = args.timeout or (QUICK_TIMEOUT if args.quick else DEFAULT_TIMEOUT)

    _precompile()
    load_start = _loadavg()
    print(
        f"python {platform.python_version()} ({sys.executable}), {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, loadavg {load_start}",
        file=sys.stderr,
    )
    print(f"comparing {labels[0]} vs {labels[1]}: {len(selected)} workloads x {repeat} repeats"
          f"{' (quick)' if args.quick else ''}", file=sys.stderr)

    broken: dict[int, str] = {}
    for i, lib in enumerate(libs):
        if i == 1 and libs[1] == libs[0]:
            if 0 in broken:
                broken[1] = broken[0]
            continue
        err = preflight(lib)
        if err:
            broken[i] = err
            print(f"!! {labels[i]} is not usable, its measurements are skipped:\n{err}", file=sys.stderr)

    t_start = time.perf_counter()
    rows = []
    for wl in selected:
        params = wl.params_for(args.quick)
        per_lib: list[dict[str, Any]] = [
            {"lib": libs[i], "label": labels[i], "values": [], "runs": [], "errors": [], "skipped": None}
            for i in range(2)
        ]
        for rep in range(repeat):
            for i in range(2):
                slot = per_lib[i]
                if i in broken:
                    if not slot["errors"]:
                        slot["errors"].append(f"{labels[i]} not importable: {broken[i]}")
                    continue
                if slot["skipped"] or slot["errors"]:
                    continue  # do not burn time repeating a failure
                res = run_isolated(libs[i], wl, params, timeout)
                slot["runs"].append(res)
                status = res.get("status")
                if status == "ok":
                    slot["values"].append(res["value"])
                    msg = f"{_fmt(res['value'])} {wl.unit}"
                elif status == "skip":
                    slot["skipped"] = res.get("reason", "skipped")
                    msg = f"SKIP: {slot['skipped']}"
                else:
                    err = (res.get("error") or "unknown error").strip()
                    slot["errors"].append(err)
                    msg = "ERROR: " + err.splitlines()[-1]
                if res.get("stray_processes"):
                    msg += f"  [killed {len(res['stray_processes'])} stray process(es)]"
                print(f"  {wl.name:<36} {labels[i]:<18} run {rep + 1}/{repeat}: {msg}",
                      file=sys.stderr, flush=True)

        for slot in per_lib:
            slot["median"] = statistics.median(slot["values"]) if slot["values"] else None

        cm, bm = per_lib[0]["median"], per_lib[1]["median"]
        ratio = None
        if per_lib[1]["skipped"]:
            status = "SKIP"  # not runnable here even for the baseline
        elif per_lib[0]["skipped"]:
            # The baseline can do it but the candidate cannot: a missing feature.
            status = "ERROR"
        elif per_lib[0]["errors"] or per_lib[1]["errors"] or cm is None or bm is None:
            status = "ERROR"
        else:
            ratio = speedup(cm, bm, wl.higher_is_better)
            status = "PASS" if ratio >= wl.target else "FAIL"
        rows.append(
            {
                "name": wl.name,
                "unit": wl.unit,
                "higher_is_better": wl.higher_is_better,
                "target": wl.target,
                "params": params,
                "libs": per_lib,
                "speedup": ratio,
                "status": status,
            }
        )

    elapsed = time.perf_counter() - t_start
    print(file=sys.stderr)
    _print_table(rows, labels)
    print(f"\nspeedup = {labels[0]} relative to {labels[1]} (>1 means {labels[0]} is better); "
          f"values are medians of {repeat} run(s), ± is half the min-max range. "
          f"{elapsed:.0f}s total, loadavg {load_start} -> {_loadavg()}")
    if args.quick:
        print("(--quick: tiny sizes, numbers are not meaningful)")

    # Notes: first error / skip reason / stray processes, grouped by identical text.
    notes: dict[str, list[str]] = {}
    for r in rows:
        for slot in r["libs"]:
            where = f"{r['name']} / {slot['label']}"
            for err in slot["errors"][:1]:
                notes.setdefault(_tail(err, 12), []).append(where)
            if any(run.get("extra", {}).get("stdlib_multiprocessing_imported") for run in slot["runs"]):
                notes.setdefault(
                    "the stdlib `multiprocessing` package was imported in the measuring process "
                    "(the library under test must not use it)", []
                ).append(where)
            if slot["skipped"]:
                notes.setdefault(f"skipped: {slot['skipped']}", []).append(where)
            strays = [s for run in slot["runs"] for s in run.get("stray_processes", [])]
            if strays:
                msg = (f"{len(strays)} process(es) still alive {STRAY_GRACE:.0f}s after the "
                       f"measuring process exited (killed): " + "; ".join(strays[:3]))
                notes.setdefault(msg, []).append(where)
    if notes:
        print("\nNotes (full error texts are in --json output):" if not args.json else "\nNotes:")
        for msg, wheres in notes.items():
            print(f"  [{', '.join(wheres)}]")
            print("    " + msg.replace("\n", "\n    "))

    if args.json:
        doc = {
            "python": platform.python_version(),
            "executable": sys.executable,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "libs": list(libs),
            "labels": list(labels),
            "repeat": repeat,
            "quick": args.quick,
            "loadavg": [load_start, _loadavg()],
            "elapsed": elapsed,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "workloads": rows,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2, default=str)
            f.write("\n")

    if args.check:
        if args.quick:
            bad = [r["name"] for r in rows if r["status"] == "ERROR"]
        else:
            bad = [r["name"] for r in rows if r["status"] in ("FAIL", "ERROR")]
        if bad:
            print(f"\n--check: {len(bad)} workload(s) failed: {', '.join(bad)}", file=sys.stderr)
            return 1
    return 0
