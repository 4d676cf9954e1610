"""Running another program's code in a session of its own, for the ecosystem tests.

Why: the suites and programs run here start workers, trackers and servers of their
own. Each runs in a new session, so that on a timeout, and after it ends in any case,
everything it left behind is killed with one ``killpg``; and under the alias, in a
throw-away virtual environment whose start-up makes ``import multiprocessing`` mean
mproc (the conformance runner's ``_alias_python``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from tests.conformance import runner

__all__ = ["Finished", "alias_environment", "run_in_session"]


@dataclass
class Finished:
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str


def run_in_session(cmd: list[str], *, timeout: float, cwd: str | os.PathLike[str] | None = None,
                   env: dict[str, str] | None = None, merge_stderr: bool = False) -> Finished:
    """Run ``cmd`` in a new session; kill the session at ``timeout`` and at the end."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE, text=True,
        start_new_session=True,
    )
    returncode: int | None
    try:
        out, err = proc.communicate(timeout=timeout)
        returncode = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        returncode = None
    finally:
        try:  # whatever it left behind in its session
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return Finished(returncode, out or "", err or "")


def alias_environment(tmp: str, stdlib: bool) -> tuple[str, dict[str, str]]:
    """(python, env) that run code on mproc through the alias, or on the stdlib."""
    env = dict(os.environ)
    env.pop(runner.ALIAS_ENV, None)
    if stdlib:
        return sys.executable, env
    from mproc import _alias

    root = runner._mproc_root()
    env[_alias.ALIAS_ENV] = "1"
    paths = [_alias.shim_dir(), root]
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    return runner._alias_python(tmp, root), env
