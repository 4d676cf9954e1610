"""Process lifecycle under every start method: start, join, exit codes, names,
daemons, signals, sentinels, parent/children, and what crosses as a target."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import mproc
import mproc.connection

TIMEOUT = 30


def _write_at_exit(path):
    import atexit

    atexit.register(lambda: open(path, "a").write("child"))


def _send_identity(conn):
    parent = mproc.parent_process()
    conn.send((mproc.current_process().name, os.getpid(), parent.pid if parent else None,
               mproc.get_start_method()))
    conn.close()


def _exit_with(code):
    sys.exit(code)


def _raise_value_error():
    raise ValueError("boom from child")


def _sleep(seconds):
    time.sleep(seconds)


def _start_grandchild(conn):
    try:
        child = mproc.Process(target=_sleep, args=(0,))
        child.start()
        child.join()
        conn.send("started")
    except AssertionError as exc:
        conn.send(str(exc))
    conn.close()


class Adder:
    def __init__(self, base):
        self.base = base

    def send_sum(self, x, conn):
        conn.send(self.base + x)
        conn.close()


class Doubler(mproc.Process):
    def __init__(self, conn, value):
        super().__init__()
        self.conn = conn
        self.value = value

    def run(self):
        self.conn.send(self.value * 2)
        self.conn.close()


def _run_and_recv(ctx, target, args=()):
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, writer))
    proc.start()
    writer.close()
    try:
        assert reader.poll(TIMEOUT), "child sent nothing"
        return reader.recv()
    finally:
        proc.join(TIMEOUT)
        reader.close()
        assert proc.exitcode == 0


def test_identity_in_child(ctx, start_method):
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_send_identity, args=(writer,), name="worker-x")
    assert proc.exitcode is None and not proc.is_alive()
    proc.start()
    writer.close()
    name, pid, parent_pid, method = reader.recv()
    proc.join(TIMEOUT)
    reader.close()
    assert (name, pid, parent_pid, method) == ("worker-x", proc.pid, os.getpid(), start_method)
    assert proc.exitcode == 0 and not proc.is_alive()
    assert proc.ident == proc.pid


def test_atexit_handlers_of_the_child_run_and_the_parents_do_not(ctx, tmp_path):
    import atexit

    path = str(tmp_path / "out")
    parents = str(tmp_path / "parent")

    def parent_handler() -> None:
        with open(parents, "a") as stream:  # in the parent only
            stream.write(str(os.getpid()))

    atexit.register(parent_handler)
    try:
        proc = ctx.Process(target=_write_at_exit, args=(path,))
        proc.start()
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
    finally:
        atexit.unregister(parent_handler)
    with open(path) as stream:
        assert stream.read() == "child"
    assert not os.path.exists(parents)


def _report_stdin_then_nest(method, depth, conn):
    """A child's stdin is a fresh /dev/null reader, at every depth (under fork the
    reader is opened before the fork; the child keeps a new one for its own)."""
    stdin = sys.stdin
    report = (stdin.name, stdin.closed, stdin.read(), stdin.fileno() != 0)
    parent = mproc.parent_process()
    alive = parent.is_alive() if parent is not None else None
    if depth:
        ctx = mproc.get_context(method)
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_report_stdin_then_nest, args=(method, depth - 1, writer))
        child.start()
        writer.close()
        nested = reader.recv()
        child.join(TIMEOUT)
        reader.close()
        conn.send([(report, alive), *nested])
    else:
        conn.send([(report, alive)])
    conn.close()


def test_stdin_is_devnull_and_parent_alive_in_children_and_grandchildren(ctx):
    reports = _run_and_recv(ctx, _report_stdin_then_nest, (ctx.get_start_method(), 2))
    assert reports == [((os.devnull, False, "", True), True)] * 3


@pytest.mark.parametrize(
    ("target", "args", "expected"),
    [(_exit_with, (0,), 0), (_exit_with, (7,), 7), (_exit_with, (None,), 0),
     (_exit_with, ("a message",), 1), (_raise_value_error, (), 1)],
)
def test_exit_codes(ctx, target, args, expected):
    proc = ctx.Process(target=target, args=args)
    proc.start()
    proc.join(TIMEOUT)
    assert proc.exitcode == expected


def test_uncaught_exception_prints_traceback(start_method, tmp_path):
    script = tmp_path / "boom.py"
    script.write_text(textwrap.dedent(f"""
        import mproc
        def boom():
            raise ValueError("boom from child")
        if __name__ == "__main__":
            p = mproc.get_context({start_method!r}).Process(target=boom)
            p.start(); p.join()
            print("exitcode", p.exitcode)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=TIMEOUT, env=_env())
    assert "exitcode 1" in out.stdout
    assert "ValueError: boom from child" in out.stderr
    assert "Process " in out.stderr


def _env():
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(__file__)), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.parametrize("how", ["terminate", "kill", "interrupt"])
def test_signals_give_negative_exit_codes(ctx, how):
    proc = ctx.Process(target=_sleep, args=(60,))
    proc.start()
    assert proc.is_alive()
    time.sleep(0.2 if how == "interrupt" else 0)
    getattr(proc, how)()
    proc.join(TIMEOUT)
    expected = {"terminate": -signal.SIGTERM, "kill": -signal.SIGKILL,
                "interrupt": 1}[how]
    assert proc.exitcode == expected


def test_join_timeout_and_sentinel(ctx):
    proc = ctx.Process(target=_sleep, args=(0.5,))
    proc.start()
    start = time.monotonic()
    proc.join(0.05)
    assert proc.is_alive() and time.monotonic() - start < 0.5
    assert not mproc.connection.wait([proc.sentinel], 0)
    assert mproc.connection.wait([proc.sentinel], TIMEOUT) == [proc.sentinel]
    proc.join(TIMEOUT)
    assert proc.exitcode == 0


def test_default_names_and_active_children(ctx):
    procs = [ctx.Process(target=_sleep, args=(0.3,)) for _ in range(3)]
    prefix = type(procs[0]).__name__ + "-"
    assert all(p.name.startswith(prefix) for p in procs)
    for p in procs:
        p.start()
    assert set(procs) <= set(mproc.active_children())
    for p in procs:
        p.join(TIMEOUT)
    assert not set(procs) & set(mproc.active_children())


def test_lambda_closure_and_bound_method_targets(ctx):
    factor = 3
    assert _run_and_recv(ctx, lambda conn: conn.send(factor * 14)) == 42

    def closure(conn):
        conn.send(factor + 1)

    assert _run_and_recv(ctx, closure) == 4
    assert _run_and_recv(ctx, Adder(40).send_sum, (2,)) == 42


def test_subclass_with_init_under_default_context(start_method):
    old = mproc.get_start_method(allow_none=True)
    mproc.set_start_method(start_method, force=True)
    try:
        reader, writer = mproc.Pipe(duplex=False)
        proc = Doubler(writer, 21)
        assert proc.name.startswith("Doubler-")
        proc.start()
        writer.close()
        assert reader.recv() == 42
        proc.join(TIMEOUT)
        reader.close()
        assert proc.exitcode == 0
    finally:
        mproc.set_start_method(old, force=True)


def test_daemon_cannot_have_children(ctx):
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_start_grandchild, args=(writer,), daemon=True)
    proc.start()
    writer.close()
    assert reader.recv() == "daemonic processes are not allowed to have children"
    proc.join(TIMEOUT)
    reader.close()


def test_close_and_errors(ctx):
    proc = ctx.Process(target=_sleep, args=(0.2,))
    with pytest.raises(ValueError, match="process not started"):
        _ = proc.sentinel
    proc.start()
    with pytest.raises(ValueError, match="still running"):
        proc.close()
    with pytest.raises(AssertionError, match="cannot start a process twice"):
        proc.start()
    proc.join(TIMEOUT)
    proc.close()
    with pytest.raises(ValueError, match="process object is closed"):
        proc.is_alive()
    assert "closed" in repr(proc)


_DAEMON_ORPHAN = """
import os, sys, time
import mproc
import mproc.connection

def sleeper():
    time.sleep(60)

if __name__ == "__main__":
    ctx = mproc.get_context(sys.argv[1])
    p = ctx.Process(target=sleeper, daemon=True)
    p.start()
    print(p.pid, flush=True)
    time.sleep(60)
"""


def test_daemon_dies_when_parent_is_sigkilled(start_method, tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(_DAEMON_ORPHAN)
    parent = subprocess.Popen([sys.executable, str(script), start_method],
                              stdout=subprocess.PIPE, text=True, env=_env())
    try:
        child_pid = int(parent.stdout.readline())
        parent.kill()
        parent.wait(TIMEOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pid_alive(child_pid):
            time.sleep(0.05)
        assert not _pid_alive(child_pid), "daemonic child outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait(TIMEOUT)
        parent.stdout.close()


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


_UNGUARDED = """
import sys
import mproc
import mproc.connection

def work():
    print("worked")

mproc.set_start_method(sys.argv[1], force=True)
p = mproc.Process(target=work)
p.start()
p.join()
sys.exit(p.exitcode)
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_unguarded_main_is_a_clear_error_not_a_fork_bomb(method, tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(_UNGUARDED)
    out = subprocess.run([sys.executable, str(script), method], capture_output=True,
                         text=True, timeout=TIMEOUT, env=_env())
    assert out.returncode != 0
    assert "BootstrapError" in out.stderr and "__main__" in out.stderr
    assert "worked" not in out.stdout


def test_main_functions_cross_under_every_method(start_method, tmp_path):
    script = tmp_path / "mainfuncs.py"
    script.write_text(textwrap.dedent("""
        import sys
        import mproc

        def top_level(conn):
            conn.send("top")

        if __name__ == "__main__":
            def guarded(conn):
                conn.send("guarded")
            ctx = mproc.get_context(sys.argv[1])
            for fn in (top_level, guarded, lambda conn: conn.send("lambda")):
                r, w = ctx.Pipe()
                p = ctx.Process(target=fn, args=(w,))
                p.start()
                print(r.recv(), flush=True)
                p.join()
    """))
    out = subprocess.run([sys.executable, str(script), start_method], capture_output=True,
                         text=True, timeout=TIMEOUT, env=_env())
    assert out.stdout.split() == ["top", "guarded", "lambda"], out.stderr
