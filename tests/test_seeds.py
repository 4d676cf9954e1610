"""The user's tutorial programs (tests/seeds/programs) run unchanged on mproc.

Each program is run as a script in a scratch directory, as its tutorial runs it,
and its output is judged by the catalog's check. Every subsystem the tutorials
use is implemented, so every program runs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from .seeds.catalog import BY_FILE, PROGRAMS, SeedProgram

IMPLEMENTED = {"core", "sync", "queues", "pool", "managers"}
SRC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "src")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environ(program: SeedProgram, port: int | None) -> dict[str, str]:
    env = program.environ()
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    if port is not None:
        env["MPROC_SEED_PORT"] = str(port)
    return env


def _start(program: SeedProgram, cwd: str, port: int | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(program.path), *program.extra_args], cwd=cwd,
        env=_environ(program, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)


def _finish(proc: subprocess.Popen[str], program: SeedProgram) -> tuple[str, str, int | None]:
    try:
        if program.kill_after is not None:
            time.sleep(program.kill_after)
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=program.timeout)
        return out, err, proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{program.file} did not finish in {program.timeout} s:\n{out}\n{err}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # nothing of the program may outlive it
        except ProcessLookupError:
            pass


def _judge(program: SeedProgram, out: str, err: str, code: int | None) -> None:
    if program.expect_returncode is not None:
        assert code == program.expect_returncode, f"exit {code}\n{out}\n{err}"
        assert err == "", err
    program.check(out)


@pytest.mark.parametrize(
    "program",
    [p for p in PROGRAMS if p.standalone and p.subsystem in IMPLEMENTED],
    ids=lambda p: p.file,
)
def test_seed_program_runs_unchanged(program: SeedProgram, tmp_path) -> None:
    for name, content in program.files.items():
        (tmp_path / name).write_text(content)
    port = _free_port() if program.needs_port else None
    proc = _start(program, str(tmp_path), port)
    if program.companion is None:
        _judge(program, *_finish(proc, program))
        return
    # A server and its client program (the distributed task queue): start the
    # companion once the server says it is ready, then judge both.
    seen = _read_until(proc, program.wait_for or "", program.timeout)
    companion = BY_FILE[program.companion]
    _judge(companion, *_finish(_start(companion, str(tmp_path), port), companion))
    out, err, code = _finish(proc, program)
    _judge(program, seen + out, err, code)


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """Read the program's stdout (raw, unbuffered) until a line equals ``marker``."""
    import select

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
        text = data.decode("utf-8", "replace")
        if any(line.strip() == marker for line in text.splitlines()):
            return text
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"never saw {marker!r}; output so far: {data!r}")
