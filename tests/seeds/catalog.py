"""Catalog of the programs extracted from the user's tutorials (tests/seeds/programs).

Each entry of ``PROGRAMS`` says how to run one program and how to judge its stdout.
This module does not run anything; the pytest test that uses it lives elsewhere.

How a harness is expected to use an entry ``p``:

* Run ``[sys.executable, str(p.path), *p.extra_args]`` with ``cwd`` set to a fresh
  scratch directory into which ``p.files`` have been written (name -> content),
  ``env=p.environ()``, stdout and stderr captured, and ``start_new_session=True``
  so that the whole process group (children included) can be killed.
* If ``p.kill_after`` is set, the program never ends on its own (as in the
  tutorial): after that many seconds kill the whole process group
  (``os.killpg(proc.pid, signal.SIGKILL)``) and judge the output collected so far.
  Otherwise wait at most ``p.timeout`` seconds; on timeout kill the process group
  and fail.
* If ``p.needs_port`` is set, put a free TCP port in the env var
  ``MPROC_SEED_PORT`` (the programs' only configurable input).
* ``p.standalone`` is False for programs that only make sense as another entry's
  companion (the task worker). For an entry with ``p.companion``: start it, wait
  until the line ``p.wait_for`` shows up on its stdout (its env makes it
  unbuffered), then run the companion to completion (same port, same cwd), then
  wait for the entry itself; check both outputs with their own ``check``.
* Assert the return code equals ``p.expect_returncode`` (None: do not check, e.g.
  killed programs), then call ``p.check(stdout)``. stderr should be empty for all
  programs except killed ones (worth asserting).

Output buffering matters. By default an entry's environment REMOVES
PYTHONUNBUFFERED (which is set in this machine's environment): with a block
buffered stdout pipe every process writes its output in one piece when it flushes,
so lines from different processes never get interleaved mid-line. The price is
that output of processes that are killed (daemons terminated at exit,
``terminate()``d readers) is lost; the checks allow for that ("at most once").
It also makes the checks sensitive to the library flushing the parent's stdio
before starting a child (the stdlib does; otherwise the parent's pending output is
duplicated in forked children, which the "exactly once" checks catch).
With PYTHONUNBUFFERED=1, ``print(a, b)`` becomes several write() calls and lines of
concurrent processes can be spliced together ("person3查询余票:person4查询余票: 3").
Only the two entries that need to see output while running (the program that is
killed, the master whose "Try get results..." line is awaited) run unbuffered, and
their output comes from processes that do not print at the same moment.

The checks are order-independent between processes (buffered output reaches the
pipe when each process exits, not when it printed) and order-dependent only
within one process, or where the program itself orders things (join() before the
parent's final print; the stdlib's flush before start()).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

PROGRAMS_DIR = Path(__file__).resolve().parent / "programs"

#: env overrides: value None means "remove this variable".
BUFFERED: Mapping[str, Optional[str]] = {"PYTHONUNBUFFERED": None}
UNBUFFERED: Mapping[str, Optional[str]] = {"PYTHONUNBUFFERED": "1"}

SUBSYSTEMS = ("core", "sync", "queues", "pool", "managers")


@dataclass(frozen=True)
class SeedProgram:
    file: str
    """File name in tests/seeds/programs."""
    seed: str
    """Seed file number ("000" .. "004") in the user's material."""
    subsystem: str
    """The mproc subsystem it needs beyond "core": one of SUBSYSTEMS."""
    check: Callable[[str], None]
    """Asserts properties of the program's stdout; raises AssertionError."""
    extra_args: Sequence[str] = ()
    """Command-line arguments (none of the tutorial programs take any)."""
    needs_port: bool = False
    """Set MPROC_SEED_PORT to a free TCP port."""
    env: Mapping[str, Optional[str]] = field(default_factory=lambda: dict(BUFFERED))
    """Environment overrides (None = unset)."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Files to create in the (scratch) working directory before running."""
    kill_after: Optional[float] = None
    """The program runs forever: kill its process group after this many seconds."""
    timeout: float = 30.0
    """Generous wall-clock limit (the programs take <= ~6 s with the stdlib)."""
    expect_returncode: Optional[int] = 0
    """Expected exit status; None = do not check (killed)."""
    standalone: bool = True
    """False: run only as another entry's companion."""
    companion: Optional[str] = None
    """File of a program to run alongside this one (after `wait_for` shows)."""
    wait_for: Optional[str] = None
    """Line on this program's stdout after which the companion may start."""

    @property
    def path(self) -> Path:
        return PROGRAMS_DIR / self.file

    def environ(self, base: Optional[Mapping[str, str]] = None) -> dict:
        """``base`` (default os.environ) with this entry's overrides applied."""
        env = dict(os.environ if base is None else base)
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env


# --------------------------------------------------------------------------- helpers


def _lines(stdout: str) -> list:
    """Non-blank lines, trailing whitespace/CR stripped."""
    return [ln.rstrip() for ln in stdout.splitlines() if ln.strip()]


def _once(lines: Sequence[str], line: str) -> int:
    n = lines.count(line)
    assert n == 1, f"expected exactly one {line!r}, got {n}: {lines!r}"
    return lines.index(line)


def _at_most_once(lines: Sequence[str], line: str) -> None:
    n = lines.count(line)
    assert n <= 1, f"expected {line!r} at most once, got {n}: {lines!r}"


def _absent(lines: Sequence[str], line: str) -> None:
    assert line not in lines, f"{line!r} must not appear: {lines!r}"


def _only(lines: Sequence[str], allowed: Callable[[str], bool]) -> None:
    extra = [ln for ln in lines if not allowed(ln)]
    assert not extra, f"unexpected lines: {extra!r} (all: {lines!r})"


def _match_all(lines: Sequence[str], pattern: str) -> list:
    rx = re.compile(pattern)
    return [m for m in (rx.fullmatch(ln) for ln in lines) if m]


_CTIME = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"


# ---------------------------------------------------------------------- checks: 000


def check_s000_clock_function(stdout: str) -> None:
    lines = _lines(stdout)
    pid = _match_all(lines, r"p\.pid: (\d+)")
    assert len(pid) == 1 and int(pid[0].group(1)) > 0, lines
    _once(lines, "p.name: Process-1")
    _once(lines, "p.is_alive: True")
    ticks = _match_all(lines, r"The time is " + _CTIME)
    assert len(ticks) == 5, f"expected 5 'The time is' lines: {lines!r}"
    assert len(lines) == 8, f"unexpected extra lines: {lines!r}"


def check_s000_clock_subclass(stdout: str) -> None:
    lines = _lines(stdout)
    ticks = _match_all(lines, r"the time is " + _CTIME)
    assert len(ticks) == 5, f"expected 5 'the time is' lines: {lines!r}"
    assert len(lines) == 5, f"unexpected extra lines: {lines!r}"


def check_s000_pipe_send_recv(stdout: str) -> None:
    # Killed after kill_after seconds, run unbuffered. Only two processes print,
    # alternately (proc2 prints right after proc1 has sent and gone to sleep), so
    # lines are whole in practice; still, parse tokens rather than lines.
    sent = [int(x) for x in re.findall(r"send: (\d+)", stdout)]
    got = [int(x) for x in re.findall(r"proc2 rev: (\d+)", stdout)]
    assert sent == list(range(len(sent))), f"sends out of order: {sent!r}"
    assert len(sent) >= 3, f"too few sends before the kill: {stdout!r}"
    assert got == list(range(len(got))), f"received out of order: {got!r}"
    assert len(got) >= 2, f"too few receives before the kill: {stdout!r}"
    assert len(got) <= len(sent), (sent, got)


# ---------------------------------------------------------------------- checks: 001


def check_s001_join_one_mail(stdout: str) -> None:
    assert _lines(stdout) == ["邮件已发送", "邮件发送完毕"], stdout


def check_s001_join_ten_mails(stdout: str) -> None:
    lines = _lines(stdout)
    assert lines and lines[-1] == "10封邮件全部发送完毕", lines
    assert sorted(lines[:-1]) == sorted(f"第{i}封邮件发送完毕" for i in range(10)), lines


def check_s001_subclass_run(stdout: str) -> None:
    lines = _lines(stdout)
    assert len(lines) == 2, lines
    parent = _match_all(lines, r"父进程: (\d+)")
    child = _match_all(lines, r"子进程: (\d+) (\d+)")
    assert len(parent) == 1 and len(child) == 1, lines
    ppid = parent[0].group(1)
    assert child[0].group(2) == ppid, f"child's getppid() is not the parent: {lines!r}"
    assert child[0].group(1) != ppid, lines


def check_s001_subclass_init_args(stdout: str) -> None:
    lines = _lines(stdout)
    assert len(lines) == 11, lines
    last = re.fullmatch(r"主进程: (\d+)", lines[-1])
    assert last, f"the parent's line must come last (after the joins): {lines!r}"
    ppid = last.group(1)
    kids = _match_all(lines[:-1], r"子进程: (\d+) (\d+) (\d+)")
    assert len(kids) == 10, lines
    assert sorted(int(m.group(1)) for m in kids) == list(range(10)), lines
    assert all(m.group(3) == ppid for m in kids), f"wrong getppid(): {lines!r}"
    cpids = {m.group(2) for m in kids}
    assert len(cpids) == 10 and ppid not in cpids, lines


def check_s001_subclass_target_attr(stdout: str) -> None:
    lines = _lines(stdout)
    assert len(lines) == 3, lines
    parent = _match_all(lines, r"父进程: (\d+)")
    child = _match_all(lines, r"子进程: (\d+) (\d+)")
    assert len(parent) == 1 and len(child) == 1, lines
    i_func = _once(lines, "i am target func")
    assert i_func < lines.index(child[0].group(0)), "run(): target before print"
    assert child[0].group(2) == parent[0].group(1), lines
    assert child[0].group(1) != parent[0].group(1), lines


def check_s001_daemon_ends_with_main(stdout: str) -> None:
    lines = _lines(stdout)
    _once(lines, "主进程")
    _absent(lines, "子进程end")  # the daemon must be terminated when main ends
    _at_most_once(lines, "子进程 start")  # lost unflushed when stdout is a pipe
    _only(lines, lambda ln: ln in ("主进程", "子进程 start"))


def check_s001_daemon_and_normal(stdout: str) -> None:
    lines = _lines(stdout)
    _once(lines, "主进程")
    a = _once(lines, "普通进程开始")
    b = _once(lines, "普通进程结束")
    assert a < b, lines
    stars = [len(ln) for ln in lines if set(ln) == {"*"}]
    # Daemon output is lost when buffered; when visible it must be *, **, ***...
    # and stop when the main code ends (~3 s), not when the program exits (~5 s).
    assert stars == list(range(1, len(stars) + 1)), lines
    assert len(stars) <= 4, f"daemon outlived the main code: {lines!r}"
    _only(lines, lambda ln: ln in ("主进程", "普通进程开始", "普通进程结束") or set(ln) == {"*"})


def check_s001_daemon_guard(stdout: str) -> None:
    assert _lines(stdout) == ["主进程"], stdout


def check_s001_terminate(stdout: str) -> None:
    lines = _lines(stdout)
    _at_most_once(lines, "子进程")
    rest = [ln for ln in lines if ln != "子进程"]
    assert len(rest) == 2, lines
    assert rest[0] in ("True", "False"), lines  # "may still be alive" right after
    assert rest[1] == "False", f"still alive 0.1 s after terminate(): {lines!r}"


def _tickets(stdout: str) -> tuple:
    """Common part of the two ticket checks; returns (bought, not_bought)."""
    lines = _lines(stdout)
    assert len(lines) == 10, lines
    bought = not_bought = 0
    for i in range(5):
        person = f"person{i}"
        q = _match_all(lines, re.escape(person) + r"查询余票: ([0-3])")
        assert len(q) == 1, f"{person}: expected one query line: {lines!r}"
        b = lines.count(f"{person}买到票了")
        n = lines.count(f"{person}没买到票")
        assert b + n == 1, f"{person}: expected one outcome line: {lines!r}"
        bought += b
        not_bought += n
    return bought, not_bought


def check_s001_ticket_nolock(stdout: str) -> None:
    bought, _ = _tickets(stdout)
    # Unsynchronised: usually all 5 "buy" (overselling); at least 3 always do.
    assert bought >= 3, stdout


def check_s001_ticket_lock(stdout: str) -> None:
    bought, not_bought = _tickets(stdout)
    assert (bought, not_bought) == (3, 2), f"the lock must prevent overselling: {stdout!r}"


def check_s001_semaphore_ktv(stdout: str) -> None:
    lines = _lines(stdout)
    assert len(lines) == 10, lines
    for i in range(5):
        a = _once(lines, f"person{i}走进唱吧")
        b = _once(lines, f"person{i}走出唱吧")
        assert a < b, lines
    # Whole lines in pipe order: buffered, each process's two lines are adjacent;
    # unbuffered, this is the real order. Either way never more than 2 inside.
    inside = peak = 0
    for ln in lines:
        inside += 1 if ln.endswith("走进唱吧") else -1
        peak = max(peak, inside)
    assert peak <= 2, f"more than 2 holders of Semaphore(2): {lines!r}"


_RED = "\033[31m红灯亮\033[0m"
_GREEN = "\033[32m绿灯亮\033[0m"


def check_s001_event_traffic_light(stdout: str) -> None:
    lines = _lines(stdout)
    for i in range(10):
        passed = _once(lines, f"car {i} 通过了")
        wait = f"car {i}在等待"
        _at_most_once(lines, wait)
        if wait in lines:
            assert lines.index(wait) < passed, lines
    # The light is a daemon terminated at exit: its lines only show unbuffered,
    # and then they alternate red/green starting with red.
    light = [ln for ln in lines if ln in (_RED, _GREEN)]
    assert all(ln == (_RED if k % 2 == 0 else _GREEN) for k, ln in enumerate(light)), light
    _only(lines, lambda ln: ln in (_RED, _GREEN) or re.fullmatch(r"car \d( 通过了|在等待)", ln) is not None)


# ---------------------------------------------------------------------- checks: 002


def check_s002_simple_worker(stdout: str) -> None:
    assert _lines(stdout) == ["0", "1", "2"], stdout


def check_s002_named_processes(stdout: str) -> None:
    lines = _lines(stdout)
    assert len(lines) == 6, lines
    for name in ("p1", "p2", "p3"):
        assert _once(lines, f"{name} start") < _once(lines, f"{name} end"), lines


def check_s002_daemon_kwarg(stdout: str) -> None:
    lines = _lines(stdout)
    assert _once(lines, "p1 start") < _once(lines, "p1 end"), lines
    for name in ("p2", "p3"):
        _absent(lines, f"{name} end")  # daemons terminated when the main code ends
        _at_most_once(lines, f"{name} start")
    _only(lines, lambda ln: ln in ("p1 start", "p1 end", "p2 start", "p3 start"))


# ---------------------------------------------------------------------- checks: 004


def check_s004_getpid_getppid(stdout: str) -> None:
    lines = _lines(stdout)
    assert len(lines) == 4, lines
    m0 = re.fullmatch(r"Parent process (\d+)\.", lines[0])
    m2 = re.fullmatch(r"Run child process test \((\d+)\) and parent process is \((\d+)\)\.", lines[2])
    assert m0 and m2, lines
    assert lines[1] == "Child process will start." and lines[3] == "Child process end.", lines
    assert m2.group(2) == m0.group(1), f"child's getppid() is not the parent: {lines!r}"
    assert m2.group(1) != m0.group(1), lines


def check_s004_pool_apply_async(stdout: str) -> None:
    lines = _lines(stdout)
    assert len(lines) == 13, lines
    m = re.fullmatch(r"Parent process (\d+)\.", lines[0])
    assert m, f"'Parent process' must come first: {lines!r}"
    parent = m.group(1)
    assert lines[-1] == "All subprocesses done.", lines
    _once(lines, "Waiting for all subprocesses done...")
    runs = _match_all(lines, r"Run task (\d) \((\d+)\)\.\.\.")
    took = _match_all(lines, r"Task (\d) runs (\d+\.\d\d) seconds\.")
    assert sorted(int(r.group(1)) for r in runs) == list(range(5)), lines
    assert sorted(int(t.group(1)) for t in took) == list(range(5)), lines
    assert all(0.0 <= float(t.group(2)) < 4.0 for t in took), lines
    for i in range(5):  # within the worker that ran it, "Run" precedes "runs"
        r = next(x for x in runs if x.group(1) == str(i))
        t = next(x for x in took if x.group(1) == str(i))
        assert lines.index(r.group(0)) < lines.index(t.group(0)), lines
    pids = {r.group(2) for r in runs}
    assert len(pids) <= 4, f"Pool(4) used more than 4 worker processes: {lines!r}"
    assert parent not in pids, lines


def check_s004_queue_writer_reader(stdout: str) -> None:
    lines = _lines(stdout)
    writer = _match_all(lines, r"Process to write: \d+")
    assert len(writer) == 1, lines
    puts = [ln for ln in lines if ln.startswith("Put ")]
    assert puts == ["Put A to queue...", "Put B to queue...", "Put C to queue..."], lines
    w = lines.index(writer[0].group(0))
    assert w < lines.index(puts[0]), lines
    # The reader is terminate()d: its lines are lost when buffered; when visible,
    # what it got is a prefix of A, B, C.
    reader = _match_all(lines, r"Process to read: \d+")
    assert len(reader) <= 1, lines
    gets = [m.group(1) for m in _match_all(lines, r"Get ([A-Z]) from queue\.")]
    assert gets == ["A", "B", "C"][: len(gets)], f"reader got {gets!r}"
    assert len(lines) == 4 + len(reader) + len(gets), f"unexpected lines: {lines!r}"


_RESULT = r"Result: (\d+) \* (\d+) = (\d+), runtime: (\d+)s"


def check_s004_task_master(stdout: str) -> None:
    lines = _lines(stdout)
    _absent(lines, "Manager error")
    assert len(lines) == 21, lines
    puts = _match_all(lines[:10], r"Put task (\d+)\.\.\.")
    assert len(puts) == 10, lines
    assert lines[10] == "Try get results...", lines
    results = _match_all(lines[11:], _RESULT)
    assert len(results) == 10, lines
    for r in results:
        a, b, sq, rt = (int(x) for x in r.groups())
        assert a == b and sq == a * a and 0 <= rt <= 3, r.group(0)
    tasks = [int(p.group(1)) for p in puts]
    assert all(0 <= n <= 10000 for n in tasks), tasks
    assert Counter(int(r.group(1)) for r in results) == Counter(tasks), lines


def check_s004_task_worker(stdout: str) -> None:
    lines = _lines(stdout)
    _absent(lines, "连接失败")
    runs = _match_all(lines, r"run task (\d+) \* (\d+)\.\.\.")
    assert len(runs) == 10 and len(lines) == 10, lines
    assert all(m.group(1) == m.group(2) for m in runs), lines


# -------------------------------------------------------------------------- catalog

_TICKET = {"ticket": '{"count":3}'}

PROGRAMS: list = [
    # seed 000
    SeedProgram("s000_clock_function.py", "000", "core", check_s000_clock_function),
    SeedProgram("s000_clock_subclass.py", "000", "core", check_s000_clock_subclass),
    SeedProgram(
        "s000_pipe_send_recv.py", "000", "core", check_s000_pipe_send_recv,
        env=dict(UNBUFFERED), kill_after=2.0, expect_returncode=None,
    ),
    # seed 001
    SeedProgram("s001_join_one_mail.py", "001", "core", check_s001_join_one_mail),
    SeedProgram("s001_join_ten_mails.py", "001", "core", check_s001_join_ten_mails),
    SeedProgram("s001_subclass_run.py", "001", "core", check_s001_subclass_run),
    SeedProgram("s001_subclass_init_args.py", "001", "core", check_s001_subclass_init_args),
    SeedProgram("s001_subclass_target_attr.py", "001", "core", check_s001_subclass_target_attr),
    SeedProgram("s001_daemon_ends_with_main.py", "001", "core", check_s001_daemon_ends_with_main),
    SeedProgram("s001_daemon_and_normal.py", "001", "core", check_s001_daemon_and_normal),
    SeedProgram("s001_daemon_guard.py", "001", "core", check_s001_daemon_guard),
    SeedProgram("s001_terminate.py", "001", "core", check_s001_terminate),
    SeedProgram("s001_ticket_nolock.py", "001", "core", check_s001_ticket_nolock, files=_TICKET),
    SeedProgram("s001_ticket_lock.py", "001", "sync", check_s001_ticket_lock, files=_TICKET),
    SeedProgram("s001_semaphore_ktv.py", "001", "sync", check_s001_semaphore_ktv),
    SeedProgram("s001_event_traffic_light.py", "001", "sync", check_s001_event_traffic_light),
    # seed 002
    SeedProgram("s002_simple_worker.py", "002", "core", check_s002_simple_worker),
    SeedProgram("s002_named_processes.py", "002", "core", check_s002_named_processes),
    SeedProgram("s002_daemon_kwarg.py", "002", "core", check_s002_daemon_kwarg),
    # seed 003: API reference only, no complete program.
    # seed 004
    SeedProgram("s004_getpid_getppid.py", "004", "core", check_s004_getpid_getppid),
    SeedProgram("s004_pool_apply_async.py", "004", "pool", check_s004_pool_apply_async),
    SeedProgram("s004_queue_writer_reader.py", "004", "queues", check_s004_queue_writer_reader),
    SeedProgram(
        "s004_task_master.py", "004", "managers", check_s004_task_master,
        needs_port=True, env=dict(UNBUFFERED),
        companion="s004_task_worker.py", wait_for="Try get results...",
    ),
    SeedProgram(
        "s004_task_worker.py", "004", "managers", check_s004_task_worker,
        needs_port=True, standalone=False,
    ),
]

BY_FILE: Mapping[str, SeedProgram] = {p.file: p for p in PROGRAMS}

assert len(BY_FILE) == len(PROGRAMS)
assert all(p.subsystem in SUBSYSTEMS for p in PROGRAMS)
assert all(p.companion is None or p.companion in BY_FILE for p in PROGRAMS)
