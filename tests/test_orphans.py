"""No orphans: every child of a parent that died without cleaning up (SIGKILL) is
stopped within 2 s, its own descendants with it, under every start method; a child
started with ``outlive_parent=True`` goes on; a normal exit still joins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import mproc

TIMEOUT = 30
LIMIT = 2.0  # what the docs promise: gone within 2 s of the parent's death

_FAMILY = """
import os, subprocess, sys, time
import mproc

def sleeper():
    time.sleep(60)

def middle(report):
    grandchild = mproc.Process(target=sleeper)          # non-daemonic grandchild
    grandchild.start()
    external = subprocess.Popen(["sleep", "60"])        # not an mproc process at all
    report.send(("grandchild", grandchild.pid))
    report.send(("external", external.pid))
    time.sleep(60)

if __name__ == "__main__":
    mproc.set_start_method(sys.argv[1])
    report_r, report_w = mproc.Pipe(duplex=False)
    daemonic = mproc.Process(target=sleeper, daemon=True)
    plain = mproc.Process(target=middle, args=(report_w,))
    kept = mproc.Process(target=sleeper, outlive_parent=True)
    for p in (daemonic, plain, kept):
        p.start()
    pids = {"daemonic": daemonic.pid, "plain": plain.pid, "kept": kept.pid}
    for _ in range(2):
        role, pid = report_r.recv()
        pids[role] = pid
    for role, pid in pids.items():
        print(role, pid, flush=True)
    print("ready", flush=True)
    time.sleep(60)
"""

_NORMAL_EXIT = """
import sys, time
import mproc

def slow(path):
    time.sleep(1.5)   # longer than the orphan grace: a join, not the watchdog, ends this
    open(path, "w").write("finished")

if __name__ == "__main__":
    mproc.set_start_method(sys.argv[1])
    mproc.Process(target=slow, args=(sys.argv[2],)).start()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(__file__)), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def test_every_child_of_a_sigkilled_parent_is_stopped(start_method, tmp_path):
    script = tmp_path / "family.py"
    script.write_text(_FAMILY)
    parent = subprocess.Popen([sys.executable, str(script), start_method],
                              stdout=subprocess.PIPE, text=True, env=_env())
    pids: dict[str, int] = {}
    try:
        for line in parent.stdout:
            if line.strip() == "ready":
                break
            role, pid = line.split()
            pids[role] = int(pid)
        assert set(pids) == {"daemonic", "plain", "kept", "grandchild", "external"}, pids
        assert all(_alive(pid) for pid in pids.values())
        parent.kill()
        parent.wait(TIMEOUT)
        killed_at = time.monotonic()
        watched = {role: pid for role, pid in pids.items() if role != "kept"}
        gone_after: dict[str, float] = {}
        while time.monotonic() - killed_at < LIMIT + 3 and len(gone_after) < len(watched):
            for role, pid in watched.items():
                if role not in gone_after and not _alive(pid):
                    gone_after[role] = time.monotonic() - killed_at
            time.sleep(0.02)
        late = {role: gone_after.get(role) for role in watched
                if gone_after.get(role, LIMIT + 1) > LIMIT}
        assert not late, f"still running {LIMIT} s after the parent's SIGKILL: {late}"
        assert gone_after["daemonic"] < 0.5, gone_after  # daemonic ones go at once
        assert _alive(pids["kept"]), "outlive_parent=True was stopped with the rest"
    finally:
        parent.kill()
        parent.wait(TIMEOUT)
        parent.stdout.close()
        for pid in pids.values():
            _kill_quietly(pid)


def test_normal_exit_still_joins_non_daemonic_children(start_method, tmp_path):
    marker = tmp_path / "marker"
    script = tmp_path / "normal.py"
    script.write_text(_NORMAL_EXIT)
    subprocess.run([sys.executable, str(script), start_method, str(marker)],
                   env=_env(), timeout=TIMEOUT, check=True)
    assert marker.read_text() == "finished"


def _report_parent_after_its_death(conn):
    parent = mproc.parent_process()
    parent.join(TIMEOUT)
    conn.send(parent.is_alive())
    conn.close()


def _start_reporter_then_wait(conn):
    mproc.Process(target=_report_parent_after_its_death, args=(conn,)).start()
    time.sleep(60)


def test_an_orphan_has_time_to_notice_its_parent_died(ctx):
    receiver, sender = ctx.Pipe(duplex=False)
    middle = ctx.Process(target=_start_reporter_then_wait, args=(sender,))
    middle.start()
    try:
        time.sleep(0.5)
        middle.kill()  # no cleanup: the reporter is an orphan for its grace period
        middle.join(TIMEOUT)
        assert receiver.poll(TIMEOUT), "the orphan never reported"
        assert receiver.recv() is False
    finally:
        if middle.exitcode is None:
            middle.kill()
            middle.join(TIMEOUT)
        receiver.close()
        sender.close()


def test_outlive_parent_is_fixed_at_start(ctx):
    proc = ctx.Process(target=time.sleep, args=(0,))
    assert proc.outlive_parent is False
    proc.outlive_parent = True
    proc.start()
    try:
        with pytest.raises(AssertionError, match="already started"):
            proc.outlive_parent = False
    finally:
        proc.join(TIMEOUT)


def _report_guardian(conn, parents_guardian, parents_socket):
    from mproc._launch import guardian

    refused = guardian.guard(0, False) is False  # the inherited socket is not ours
    grandchild = mproc.get_context("fork").Process(target=time.sleep, args=(0,))
    grandchild.start()  # needs a guardian of its own: the parent's end is closed
    grandchild.join(TIMEOUT)
    own = guardian._pid not in (0, parents_guardian) and guardian._owner == os.getpid()
    inodes = {os.fstat(int(fd)).st_ino for fd in os.listdir("/proc/self/fd")
              if _is_socket(int(fd))}
    conn.send((refused, own, parents_socket not in inodes))
    conn.close()


def _is_socket(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    except OSError:
        return False


def _fds_of(pid: int) -> list[str]:
    return sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))


def test_the_guardian_of_fork_children_holds_nothing_of_the_parent():
    from mproc._launch import guardian

    ctx = mproc.get_context("fork")
    reader, writer = os.pipe()  # made before the guardian: it must not keep a copy
    try:
        receiver, sender = ctx.Pipe(duplex=False)
        guardian.ensure_running()
        assert guardian._sock is not None
        parents_socket = os.fstat(guardian._sock.fileno()).st_ino
        child = ctx.Process(target=_report_guardian,
                            args=(sender, guardian._pid, parents_socket))
        child.start()
        try:
            # A fork child cannot use its parent's guardian, and starts its own (closing
            # the parent's end) when it starts fork children of its own.
            assert receiver.recv() == (True, True, True)
        finally:
            child.join(TIMEOUT)
            receiver.close()
            sender.close()
        assert guardian._pid and _alive(guardian._pid)
        held = _fds_of(guardian._pid)
        assert not [fd for fd in held if fd.startswith("pipe:")], held
        assert [fd for fd in held if fd.startswith("socket:")], held  # its own end
        os.close(writer)
        writer = -1
        assert os.read(reader, 1) == b""  # EOF: nobody else holds the write end
    finally:
        os.close(reader)
        if writer >= 0:
            os.close(writer)


def test_a_dead_guardian_is_replaced_at_the_next_fork_child():
    from mproc._launch import guardian

    ctx = mproc.get_context("fork")
    child = ctx.Process(target=time.sleep, args=(0,))
    child.start()
    child.join(TIMEOUT)
    first = guardian._pid
    os.kill(first, signal.SIGKILL)
    os.waitpid(first, 0)
    for _ in range(2):  # the first start may still find the old one's socket open
        child = ctx.Process(target=time.sleep, args=(0,))
        child.start()
        child.join(TIMEOUT)
    assert guardian._pid != first and _alive(guardian._pid)
