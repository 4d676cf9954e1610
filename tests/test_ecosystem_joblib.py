"""joblib (and its vendored loky) running unchanged on mproc, under ``python -m mproc run``.

Each test writes a small program, runs it in a fresh interpreter (its own session,
killed as a group on timeout) and checks what it printed. Under ``run``,
``import multiprocessing`` inside joblib, loky and every worker is mproc; loky
subclasses mproc's Process and queues (see ``mproc._queues.classic``).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.ecosystem.sessions import run_in_session

pytest.importorskip("joblib")

SRC = str(Path(__file__).resolve().parents[1] / "src")
TIMEOUT = 120


def _run(tmp_path: Path, source: str, *args: str, mproc: bool = True,
         timeout: float = TIMEOUT) -> dict:  # type: ignore[type-arg]
    """Run ``source`` as a script; the JSON object its last stdout line holds."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(source))
    env = dict(os.environ)
    env.pop("MPROC_ALIAS_MULTIPROCESSING", None)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, *(["-m", "mproc", "run"] if mproc else []), str(script), *args]
    done = run_in_session(cmd, timeout=timeout, cwd=tmp_path, env=env)
    out, err = done.stdout, done.stderr
    if done.returncode is None:
        pytest.fail(f"timed out after {timeout}s\nstdout:\n{out}\nstderr:\n{err}")
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    lines = out.strip().splitlines()
    assert lines, f"no output\nstderr:\n{err}"
    return json.loads(lines[-1])  # type: ignore[no-any-return]


BASIC = """
    import json, os, sys
    import multiprocessing
    from joblib import Parallel, delayed, parallel_config

    def work(x):
        import multiprocessing as mp
        return x * x, mp.__name__, os.getpid()

    if __name__ == "__main__":
        backend, method = sys.argv[1], sys.argv[2]
        kwargs = {} if method == "default" else {"context": multiprocessing.get_context(method)}
        with parallel_config(backend=backend, n_jobs=2, **kwargs):
            out = Parallel()(delayed(work)(i) for i in range(20))
        print(json.dumps({"squares": [a for a, _, _ in out],
                          "modules": sorted({m for _, m, _ in out}),
                          "in_parent": os.getpid() in {p for *_, p in out},
                          "main": multiprocessing.__name__}))
"""


def test_loky_backend(tmp_path: Path) -> None:
    got = _run(tmp_path, BASIC, "loky", "default")
    assert got == {"squares": [i * i for i in range(20)], "modules": ["mproc"],
                   "in_parent": False, "main": "mproc"}


@pytest.mark.parametrize("method", ["default", "fork", "spawn", "forkserver"])
def test_multiprocessing_backend(tmp_path: Path, method: str) -> None:
    got = _run(tmp_path, BASIC, "multiprocessing", method)
    assert got == {"squares": [i * i for i in range(20)], "modules": ["mproc"],
                   "in_parent": False, "main": "mproc"}


LOKY_CONTEXTS = """
    import json, os, sys
    from joblib.externals.loky import get_reusable_executor

    def work(x):
        import multiprocessing as mp
        return x + 1, mp.__name__, mp.current_process().name

    if __name__ == "__main__":
        executor = get_reusable_executor(max_workers=2, context=sys.argv[1])
        out = list(executor.map(work, range(10)))
        executor.shutdown(wait=True)
        print(json.dumps({"values": [a for a, _, _ in out],
                          "modules": sorted({m for _, m, _ in out})}))
"""


@pytest.mark.parametrize("method", ["loky", "loky_init_main", "spawn", "forkserver"])
def test_loky_executor_start_methods(tmp_path: Path, method: str) -> None:
    # loky refuses "fork" itself (its reusable executor needs exec'd workers).
    got = _run(tmp_path, LOKY_CONTEXTS, method)
    assert got == {"values": list(range(1, 11)), "modules": ["mproc"]}


MEMMAP = """
    import json, sys
    import numpy as np
    from joblib import Parallel, delayed, parallel_config

    def describe(a):
        return type(a).__name__, float(a.sum())

    def write(a, i):
        a[i] = -1.0
        return i

    if __name__ == "__main__":
        backend = sys.argv[1]
        big = np.arange(300_000, dtype="float64")  # 2.4 MB > max_nbytes
        with parallel_config(backend=backend, n_jobs=2, max_nbytes="1M"):
            seen = Parallel()(delayed(describe)(big) for _ in range(4))
        target = np.memmap(sys.argv[2], dtype="float64", mode="w+", shape=(300_000,))
        with parallel_config(backend=backend, n_jobs=2, max_nbytes="1M", mmap_mode="r+"):
            Parallel()(delayed(write)(target, i) for i in range(4))
        print(json.dumps({"kinds": sorted({k for k, _ in seen}),
                          "sums": sorted({s for _, s in seen}),
                          "written": target[:5].tolist()}))
"""


def test_loky_memmaps_large_arrays(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    got = _run(tmp_path, MEMMAP, "loky", str(tmp_path / "target.mmap"))
    assert got == {"kinds": ["memmap"], "sums": [float(sum(range(300_000)))],
                   "written": [-1.0, -1.0, -1.0, -1.0, 0.0]}


def test_multiprocessing_backend_large_arrays(tmp_path: Path) -> None:
    # joblib's MemmappingPool overrides the Pool's _setup_queues with queues whose
    # reducers turn large arrays into memmaps; mproc's Pool calls that hook and
    # pickles with those reducers over its own pipes (src/mproc/_pool/front.py), so
    # workers get memmaps and writes to an r+ memmap reach the parent, as with the
    # stdlib.
    pytest.importorskip("numpy")
    got = _run(tmp_path, MEMMAP, "multiprocessing", str(tmp_path / "target.mmap"))
    stdlib = _run(tmp_path, MEMMAP, "multiprocessing", str(tmp_path / "target2.mmap"),
                  mproc=False)
    expected = {"kinds": ["memmap"], "sums": [float(sum(range(300_000)))],
                "written": [-1.0, -1.0, -1.0, -1.0, 0.0]}
    assert stdlib == expected
    assert got == expected


KILL = """
    import json, os, signal, sys, time
    from joblib import Parallel, delayed, parallel_config

    def work(i):
        if i == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.2)
        return i

    if __name__ == "__main__":
        backend = sys.argv[1]
        try:
            with parallel_config(backend=backend, n_jobs=2):
                Parallel(timeout=float(sys.argv[2]))(delayed(work)(i) for i in range(4))
            first = "no error"
        except Exception as exc:
            first = type(exc).__name__
        with parallel_config(backend=backend, n_jobs=2):  # usable again afterwards
            again = Parallel()(delayed(abs)(-i) for i in range(5))
        print(json.dumps({"first": first, "again": again}))
"""


def test_loky_worker_killed(tmp_path: Path) -> None:
    got = _run(tmp_path, KILL, "loky", "60")
    assert got == {"first": "TerminatedWorkerError", "again": [0, 1, 2, 3, 4]}


def test_multiprocessing_backend_worker_killed(tmp_path: Path) -> None:
    # The stdlib's Pool never hears of the task its killed worker was running:
    # Parallel waits until its timeout. mproc's Pool fails that task at once
    # with WorkerLostError (see docs/decisions.md, "Pool: one supervisor").
    stdlib = _run(tmp_path, KILL, "multiprocessing", "5", mproc=False)
    assert stdlib == {"first": "TimeoutError", "again": [0, 1, 2, 3, 4]}
    got = _run(tmp_path, KILL, "multiprocessing", "60")
    assert got == {"first": "WorkerLostError", "again": [0, 1, 2, 3, 4]}


CLASSES = """
    import json
    import concurrent.futures.process as cf
    import multiprocessing.queues as mq
    from joblib.externals.loky import process_executor
    from joblib.externals.loky.backend import queues as loky_queues
    from mproc._queues.classic import ClassicQueue, ClassicSimpleQueue

    print(json.dumps({
        "loky_queue": issubclass(loky_queues.Queue, ClassicQueue),
        "loky_safe_queue": issubclass(process_executor._SafeQueue, ClassicQueue),
        "loky_simple": issubclass(loky_queues.SimpleQueue, ClassicSimpleQueue),
        "still_mproc": issubclass(loky_queues.Queue, mq.Queue),
        "cf_untouched": not issubclass(cf._SafeQueue, ClassicQueue),
    }))
"""


def test_stdlib_shaped_queue_subclasses_get_the_classic_base(tmp_path: Path) -> None:
    # loky's queues override the stdlib's feeder protocol: rebased onto
    # mproc._queues.classic; concurrent.futures' _SafeQueue does not: unchanged.
    got = _run(tmp_path, CLASSES)
    assert got == dict.fromkeys(("loky_queue", "loky_safe_queue", "loky_simple",
                                 "still_mproc", "cf_untouched"), True)


WITH_CONTEXT = """
    import json, os, signal, sys
    import numpy as np
    import mproc
    import multiprocessing
    from joblib import Parallel, delayed, parallel_config

    def total(a):
        return float(a.sum()), type(a).__name__, os.getpid()

    def die(x):
        if x == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return x

    if __name__ == "__main__":
        ctx = mproc.get_context(sys.argv[1])
        big = np.ones(300_000)
        with parallel_config(backend="multiprocessing", n_jobs=2, context=ctx, max_nbytes="1M"):
            out = Parallel()(delayed(total)(big) for _ in range(4))
            try:
                Parallel(timeout=5)(delayed(die)(i) for i in range(4))
                killed = "no error"
            except Exception as exc:
                killed = type(exc).__name__
        print(json.dumps({"main": multiprocessing.__name__,
                          "sums": sorted({s for s, _, _ in out}),
                          "types": sorted({t for _, t, _ in out}),
                          "in_parent": os.getpid() in {p for *_, p in out},
                          "killed": killed}))
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_backend_with_an_mproc_context(tmp_path: Path, method: str) -> None:
    """Without ``run``: joblib's Pool (the stdlib's) on an mproc context, large arrays
    memmapped, a killed worker reported by mproc's own error."""
    pytest.importorskip("numpy")
    got = _run(tmp_path, WITH_CONTEXT, method, mproc=False)
    # The Pool here is the stdlib's, on mproc's processes: it never hears of the task
    # its killed worker held, so Parallel(timeout=) ends the wait, as on the stdlib
    # alone (under `run` the Pool is mproc's and fails the task at once).
    assert got == {"main": "multiprocessing", "sums": [300000.0], "types": ["memmap"],
                   "in_parent": False, "killed": "TimeoutError"}
