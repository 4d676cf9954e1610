"""Libraries built on multiprocessing, run unchanged on mproc, each in a subprocess.

Two ways a user combines them with mproc, under every start method:

* ``context``: the library's own ``import multiprocessing`` is the stdlib's, and the
  program passes ``mp_context=mproc.get_context(method)``. The stdlib's objects
  (``concurrent.futures``' call queue, tqdm's lock) are then built on mproc and
  pickled into mproc's children;
* ``run``: ``python -m mproc run program.py``, where every ``import
  multiprocessing`` in the process and its children is mproc.

Each program prints one JSON report on its last line; stderr must show no thread
that crashed and no leaked semaphore or shared-memory segment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START_METHODS
from tests.ecosystem.sessions import run_in_session

PROGRAMS = Path(__file__).resolve().parent / "ecosystem" / "programs"
REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 240
MODES = ("context", "run")
_BAD_STDERR = ("leaked semaphore", "leaked shared_memory", "Exception in thread",
               "Traceback (most recent call last)")


def run_program(name: str, *args: str, mode: str, allow_in_stderr: tuple[str, ...] = ()
                ) -> dict[str, Any]:
    """Run ``PROGRAMS/name`` (through ``mproc run`` for mode "run"); its report."""
    script = str(PROGRAMS / name)
    prefix = [sys.executable, "-m", "mproc", "run"] if mode == "run" else [sys.executable]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src"), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.pop("MPROC_ALIAS_MULTIPROCESSING", None)
    done = run_in_session([*prefix, script, *args], timeout=TIMEOUT, cwd=REPO_ROOT, env=env)
    out, err = done.stdout, done.stderr
    if done.returncode is None:
        pytest.fail(f"{name} {args} ({mode}) did not finish in {TIMEOUT}s:\n{err[-4000:]}")
    assert done.returncode == 0, f"exit status {done.returncode}:\n{err[-4000:]}"
    lines = [line for line in err.splitlines()
             if not any(allowed in line for allowed in allow_in_stderr)]
    bad = [line for line in lines if any(sign in line for sign in _BAD_STDERR)]
    assert not bad, f"{name} ({mode}) stderr:\n{err[-4000:]}"
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    expected = "mproc" if mode == "run" else "multiprocessing"
    assert report["multiprocessing"] == expected
    return report


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", START_METHODS)
def test_process_pool_executor(method: str, mode: str) -> None:
    # The failing initializer's traceback is printed by concurrent.futures itself.
    report = run_program("cf_executor.py", method, mode, mode=mode,
                         allow_in_stderr=("Traceback (most recent call last)",))
    assert report["ctx"] == "mproc.context"
    assert report["map"] == [x * x for x in range(10)]
    assert report["submit"] == 49
    assert report["initializer"] == [100, 101, 102]
    if sys.version_info >= (3, 11) and method != "fork":
        assert report["max_tasks_per_child_pids"] == 2
    assert report["cancelled"] >= 1 and report["cancelled"] + report["done"] == 6
    assert report["killed"] == "BrokenProcessPool"
    assert report["failing_initializer"] == "BrokenProcessPool"
    assert report["crashed_threads"] == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", START_METHODS)
def test_tqdm_process_map(method: str, mode: str) -> None:
    pytest.importorskip("tqdm")
    report = run_program("tqdm_process_map.py", method, mode, mode=mode)
    assert report["sum"] == sum(x * x for x in range(200))
    assert report["in_children"] is True
    assert report["killed"] == "BrokenProcessPool"


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_dask_local_cluster_under_run(method: str, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    # dask logs the nanny's restart of the killed worker as a warning
    report = run_program("dask_local_cluster.py", method, str(tmp_path / "flag"), mode="run")
    assert report["workers_see"] == ["mproc"]
    assert report["sum"] == sum(x * x for x in range(100))
    assert report["killed"] == "ran again"
    assert report["after"] == sum(x * x for x in range(10))
