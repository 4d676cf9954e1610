"""The resource tracker: its stdlib surface, cleaning up after a creator that was
killed (and only then warning), surviving Ctrl-C, restarting after SIGKILL, being
shared with children, and going away when the last process holding it exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import mproc
from mproc import resource_tracker

TIMEOUT = 30


@pytest.fixture(scope="module", autouse=True)
def _tracker_running() -> None:
    # Started before the per-test fd leak check takes its snapshot.
    resource_tracker.ensure_running()


def _run(code: str, timeout: float = TIMEOUT) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = TIMEOUT) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)


def _shm_entry(name: str, rtype: str) -> str:
    return ("sem." if rtype == "semaphore" else "") + name.lstrip("/")


def _wait_gone(entries: list[str], timeout: float = TIMEOUT) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = [e for e in entries if os.path.exists(os.path.join("/dev/shm", e))]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _pid_gone(pid: int, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stream:
                state = stream.read().rsplit(b")", 1)[1].split()[0]
            if state == b"Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


# -- the stdlib's surface -------------------------------------------------------------


def test_stdlib_names() -> None:
    tracker = resource_tracker._resource_tracker
    assert isinstance(tracker, resource_tracker.ResourceTracker)
    assert {"semaphore", "shared_memory"} <= set(resource_tracker._CLEANUP_FUNCS)
    assert isinstance(resource_tracker.getfd(), int)
    assert tracker._pid is not None and tracker._check_alive()
    for name in ("ensure_running", "register", "unregister", "getfd"):
        assert callable(getattr(resource_tracker, name))


def test_too_long_or_unknown_is_refused() -> None:
    with pytest.raises(ValueError):
        resource_tracker.register("a" * (512 - len("shared_memory")), "shared_memory")
    with pytest.raises(ValueError, match="unknown resource type"):
        resource_tracker.register("/x", "no-such-type")


def test_cleanup_funcs_remove_by_name() -> None:
    lock = mproc.get_context("spawn").Lock()
    name = lock._semlock.name
    resource_tracker._CLEANUP_FUNCS["semaphore"](name)
    assert not os.path.exists(f"/dev/shm/sem.{name[1:]}")
    with pytest.raises(FileNotFoundError):
        resource_tracker._CLEANUP_FUNCS["semaphore"](name)
    del lock  # its finalizer tolerates the name being gone already


def test_tracker_keeps_only_its_pipe_and_stderr() -> None:
    pid = resource_tracker._resource_tracker._pid
    deadline = time.monotonic() + TIMEOUT
    while True:  # it may still be starting up
        fds = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                fds[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
        if (len(fds) == 4 and fds.get(1) == os.devnull) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(fds) == 4, fds
    assert fds[0] == fds[1] == os.devnull  # stderr (2) and the pipe stay


# -- cleaning up after the dead -------------------------------------------------------


LEAKER = """
    import os, sys, time
    import _posixshmem
    import mproc
    from mproc import resource_tracker

    ctx = mproc.get_context("spawn")
    lock, sem = ctx.Lock(), ctx.Semaphore(3)
    shm = f"/mproc-test-{os.getpid()}"
    os.close(_posixshmem.shm_open(shm, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    resource_tracker.register(shm, "shared_memory")
    print(lock._semlock.name, sem._semlock.name, shm, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_creator_leaks_nothing_and_is_reported(sig: int) -> None:
    proc = _run(LEAKER)
    try:
        assert proc.stdout is not None
        sem1, sem2, shm = proc.stdout.readline().split()
        entries = [_shm_entry(sem1, "semaphore"), _shm_entry(sem2, "semaphore"),
                   _shm_entry(shm, "shared_memory")]
        assert _wait_gone(entries, 0) == entries
        resource_tracker._CLEANUP_FUNCS["semaphore"](sem1)  # gone before the tracker looks
        proc.send_signal(sig)
        _out, err = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            _finish(proc)
    assert _wait_gone(entries) == []
    assert "resource_tracker: There appear to be 2 leaked semaphore objects" in err
    assert "resource_tracker: There appear to be 1 leaked shared_memory objects" in err
    assert f"resource_tracker: {sem1!r}: [Errno 2]" in err


CLEAN = """
    import json, os, time
    import mproc

    def child(lock, cond, event, sem):
        with lock:
            pass
        with cond:
            cond.notify_all()
        event.set()
        sem.release()

    if __name__ == "__main__":
        for method in ("spawn", "forkserver", "fork"):
            ctx = mproc.get_context(method)
            objs = [ctx.Lock(), ctx.Condition(), ctx.Event(), ctx.Semaphore(0)]
            p = ctx.Process(target=child, args=objs)
            p.start()
            p.join(30)
            assert p.exitcode == 0, p.exitcode
            assert objs[2].is_set() and objs[3].get_value() == 1
            del objs, p
        kept = mproc.get_context("spawn").RLock()  # still alive at exit
        from mproc.resource_tracker import _resource_tracker
        print(json.dumps({"tracker": _resource_tracker._pid}), flush=True)
"""


def test_program_that_cleans_up_gets_no_warning(tmp_path) -> None:
    script = tmp_path / "clean.py"
    script.write_text(textwrap.dedent(CLEAN))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    assert err == ""
    info = json.loads(out)
    assert _pid_gone(info["tracker"])
    prefix = f"sem.mp-{proc.pid}-"
    assert [n for n in os.listdir("/dev/shm") if n.startswith(prefix)] == []


# -- the tracker process itself -------------------------------------------------------


RESTART = """
    import json, os, signal, time, warnings
    import mproc
    from mproc.resource_tracker import _resource_tracker as tracker

    results = {}
    for name in ("SIGINT", "SIGTERM", "SIGKILL"):
        tracker.ensure_running()
        pid = tracker._pid
        os.kill(pid, getattr(signal, name))
        time.sleep(0.5)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sem = mproc.get_context("spawn").Semaphore()
            del sem
        results[name] = {
            "restarted": tracker._pid != pid,
            "warnings": [str(w.message) for w in caught],
        }
    print(json.dumps(results), flush=True)
"""


def test_tracker_ignores_ctrl_c_and_term_and_restarts_after_kill() -> None:
    out, err = _finish(_run(RESTART))
    results = json.loads(out)
    for name in ("SIGINT", "SIGTERM"):
        assert results[name] == {"restarted": False, "warnings": []}, err
    assert results["SIGKILL"]["restarted"] is True
    assert len(results["SIGKILL"]["warnings"]) == 1
    assert "resource_tracker: process died unexpectedly" in results["SIGKILL"]["warnings"][0]


OUTLIVED = """
    import json, time
    import mproc
    from mproc.resource_tracker import _resource_tracker as tracker

    def linger():
        time.sleep(1.0)

    if __name__ == "__main__":
        tracker.ensure_running()
        p = mproc.get_context("fork").Process(target=linger)
        p.start()
        print(json.dumps({"tracker": tracker._pid, "child": p.pid}), flush=True)
"""


def test_tracker_exits_when_the_last_holder_exits() -> None:
    start = time.monotonic()
    proc = _run(OUTLIVED)
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    assert time.monotonic() - start < 10  # the tracker does not keep the program alive
    info = json.loads(out)
    assert _pid_gone(info["child"])
    assert _pid_gone(info["tracker"])


# -- shared with children -------------------------------------------------------------


def _report_tracker(conn, parent_tracker):
    from mproc.resource_tracker import _resource_tracker as tracker

    tracker.ensure_running()
    conn.send({"pid": tracker._pid, "alive": tracker._check_alive(),
               "reused": tracker._pid in (None, parent_tracker)})
    conn.close()


def test_children_reach_the_same_tracker(ctx, start_method: str) -> None:
    parent_tracker = resource_tracker._resource_tracker._pid
    reader, writer = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_report_tracker, args=(writer, parent_tracker))
    p.start()
    try:
        writer.close()
        assert reader.poll(TIMEOUT)
        report = reader.recv()
    finally:
        p.join(TIMEOUT)
        if p.exitcode is None:
            p.kill()
            p.join(TIMEOUT)
        reader.close()
    assert report["alive"] and report["reused"], report


@pytest.mark.parametrize(("clean", "expected"), [(True, 0), (False, 1)],
                         ids=["nothing-left", "leftovers"])
def test_tracker_exit_code_says_whether_anything_was_left(clean: bool, expected: int) -> None:
    from mproc._shm import tracker as tracker_module
    from mproc.resource_tracker import ResourceTracker

    # A resource type whose cleanup does nothing (``str(name)``, importable by path).
    tracker_module.register_cleanup("mproc-test-nothing", str)
    tracker = ResourceTracker()  # a tracker of its own, not the process's
    tracker.ensure_running()
    try:
        assert tracker._check_alive()
        assert tracker._exitcode is None
        tracker.register("somename", "mproc-test-nothing")
        if clean:
            tracker.unregister("somename", "mproc-test-nothing")
        assert tracker._exitcode is None
    finally:
        tracker._stop(timeout=30)
        del tracker_module._CLEANUP_FUNCS["mproc-test-nothing"]
    assert tracker._exitcode == expected


_SERVER_WITH_A_TRACKER = """
import sys
import mproc
from mproc.resource_tracker import _resource_tracker

def report(conn):
    _resource_tracker.ensure_running()
    conn.send((_resource_tracker._pid, _resource_tracker._check_alive()))

if __name__ == "__main__":
    mproc.set_start_method("forkserver")
    mproc.set_forkserver_preload(["makes_a_lock"])  # the server starts a tracker of its own
    _resource_tracker.ensure_running()
    r, w = mproc.Pipe(duplex=False)
    p = mproc.Process(target=report, args=(w,))
    p.start()
    w.close()
    print(r.recv())
    p.join(60)
"""


def test_a_forkserver_child_uses_its_parents_tracker_not_the_servers(tmp_path) -> None:
    (tmp_path / "prog.py").write_text(_SERVER_WITH_A_TRACKER)
    (tmp_path / "makes_a_lock.py").write_text(
        "import mproc\nLOCK = mproc.get_context('spawn').Lock()  # registers its name\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "src"), str(tmp_path), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, str(tmp_path / "prog.py")], capture_output=True,
                         text=True, timeout=120, cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr
    # None: the child adopted the pipe its parent handed over (it started no tracker,
    # and did not keep using the one the fork server had started).
    assert out.stdout.strip() == "(None, True)"
