"""``python -m mproc``: each subcommand end to end, in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 120


def _mproc(*args: str, cwd: str | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "mproc", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or ROOT, env=env)


@pytest.mark.parametrize("command", [[], ["run"], ["demo"], ["bench"]])
def test_help(command):
    out = _mproc(*command, "--help")
    assert out.returncode == 0
    assert "usage:" in out.stdout


@pytest.mark.parametrize("args", [["frobnicate"], ["run"], ["run", "/no/such/script.py"],
                                  ["demo", "--bogus"]])
def test_bad_arguments_are_one_clear_line(args):
    out = _mproc(*args)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "error" in out.stderr


_STDLIB_PROGRAM = """
import sys
import multiprocessing
from multiprocessing import Pipe, get_context

def child(conn):
    import multiprocessing as mp
    conn.send((mp.__name__, type(mp.current_process()).__module__))
    conn.close()

if __name__ == "__main__":
    results = []
    for method in ("fork", "spawn", "forkserver"):
        ctx = get_context(method)
        parent, other = ctx.Pipe()
        p = ctx.Process(target=child, args=(other,))
        p.start()
        results.append(parent.recv())
        p.join()
    print(multiprocessing.__name__, results, sys.argv[1:])
    sys.exit(int(sys.argv[1]))
"""


def test_run_script_aliases_multiprocessing_in_every_child(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(_STDLIB_PROGRAM)
    out = _mproc("run", str(script), "3", "extra")
    assert out.returncode == 3, out.stderr
    assert out.stdout.startswith("mproc ")
    assert out.stdout.count("'mproc'") == 3, out.stdout
    assert "['3', 'extra']" in out.stdout


def test_run_module(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "job.py").write_text(textwrap.dedent("""
        import sys, multiprocessing
        print(multiprocessing.__name__, sys.argv[1:])
    """))
    out = _mproc("run", "-m", "pkg.job", "a", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "mproc ['a']"


def test_run_passes_signals_through(tmp_path):
    script = tmp_path / "killed.py"
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    out = _mproc("run", str(script))
    assert out.returncode == -signal.SIGTERM


def test_demo_runs_every_step_quickly():
    out = _mproc("demo", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "All steps passed" in out.stdout
    assert "FAILED" not in out.stdout


def test_bench_quick_runs_the_suite():
    out = _mproc("bench", "--quick", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "speedup" in out.stdout
