"""The fork server imports the modules its children's targets come from (``_launch.learn``).

Each case runs a small program in a fresh interpreter, so that it gets a fork server
of its own that has learned nothing yet. A target module records the pid that
imported it; a child that finds another pid there inherited the module from the
server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 120

_PROGRAM = """
import os, sys
import mproc

def main():
    import target_mod
    ctx = mproc.get_context("forkserver")
    q = ctx.SimpleQueue()
    report = []
    for _ in range(8):
        p = ctx.Process(target=target_mod.work, args=(q,))
        p.start()
        p.join(60)
        assert p.exitcode == 0, p.exitcode
        report.append(q.get())
    print("PRELOADED" if all(report[-3:]) else "IMPORTED-BY-CHILDREN" if not any(report) else
          f"MIXED {report}")

if __name__ == "__main__":
    main()
"""

_TARGET = """
import os
{extra}
IMPORTED_IN = os.getpid()

def work(q):
    q.put(IMPORTED_IN != os.getpid())  # True: the module came with the fork
"""


def _run(tmp_path, extra: str = "", env_extra: dict[str, str] | None = None) -> list[str]:
    (tmp_path / "prog.py").write_text(textwrap.dedent(_PROGRAM))
    (tmp_path / "target_mod.py").write_text(_TARGET.format(extra=extra))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "src"), str(tmp_path),
                                         env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, str(tmp_path / "prog.py")], capture_output=True,
                         text=True, timeout=TIMEOUT, cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def test_a_clean_target_module_is_imported_once_by_the_server(tmp_path):
    assert _run(tmp_path)[-1] == "PRELOADED"


def test_learning_can_be_turned_off(tmp_path):
    lines = _run(tmp_path, env_extra={"MPROC_FORKSERVER_LEARN": "0"})
    assert lines[-1] == "IMPORTED-BY-CHILDREN"


@pytest.mark.parametrize("extra", [
    "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()",
    "KEEP = open(__file__)",
    # A C library's own thread (as OpenBLAS starts when numpy is imported).
    "import ctypes\nlibc = ctypes.CDLL(None)\ntid = ctypes.c_ulong()\n"
    "assert libc.pthread_create(ctypes.byref(tid), None,"
    " ctypes.cast(libc.pause, ctypes.c_void_p), None) == 0",
], ids=["starts-a-thread", "keeps-a-file-open", "starts-a-native-thread"])
def test_a_module_with_side_effects_is_never_imported_by_the_server(tmp_path, extra):
    assert _run(tmp_path, extra)[-1] == "IMPORTED-BY-CHILDREN"


def test_the_probe_and_the_server_import_silently(tmp_path):
    lines = _run(tmp_path, 'print("hello from import", flush=True)')
    assert lines[-1] == "PRELOADED"
    # In the parent, and in the first children; the probe's and the server's
    # imports print nothing, and children forked after the server learned the
    # module do not import it at all (the stdlib's would print 9 times).
    assert 2 <= lines.count("hello from import") <= 5
