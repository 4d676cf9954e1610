"""The steps of ``python -m mproc demo``; each returns a one-line outcome and
raises if mproc did not behave. Targets live at module level so that they can be
started under every start method."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import mproc
from mproc.managers import BaseManager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "names", "join_ten", "daemon_and_terminate", "tickets", "semaphore", "traffic_light",
    "queue_writer_reader", "pipe", "pool_five", "distributed", "lambda_under_spawn",
    "killed_worker", "task_timeout", "progress",
]
TIMEOUT = 30


def _report_name(conn: Any) -> None:
    conn.send((mproc.current_process().name, os.getpid()))


def names() -> str:
    reader, writer = mproc.Pipe(duplex=False)
    procs = [mproc.Process(target=_report_name, args=(writer,), name=f"worker-{i}")
             for i in range(3)]
    for p in procs:
        p.start()
    seen = sorted(reader.recv()[0] for _ in procs)
    for p in procs:
        p.join(TIMEOUT)
    reader.close()
    writer.close()
    assert seen == ["worker-0", "worker-1", "worker-2"], seen
    return f"children named {', '.join(seen)}; parent is {mproc.current_process().name}"


def _send_mail(n: int) -> None:
    time.sleep(0.05)


def join_ten() -> str:
    procs = [mproc.Process(target=_send_mail, args=(i,)) for i in range(10)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT)
    codes = {p.exitcode for p in procs}
    assert codes == {0}, codes
    return "10 processes started and joined, all exit codes 0"


def _busy() -> None:
    time.sleep(60)


def daemon_and_terminate() -> str:
    busy = mproc.Process(target=_busy, daemon=True)
    busy.start()
    busy.terminate()
    busy.join(TIMEOUT)
    assert busy.exitcode == -signal.SIGTERM, busy.exitcode
    return f"daemon={busy.daemon}, terminated with exit code {busy.exitcode}"


def _buy(lock: Any, tickets: Any, sold: Any) -> None:
    with lock:
        if tickets.value > 0:
            time.sleep(0.01)
            tickets.value -= 1
            sold.value += 1


def tickets() -> str:
    lock = mproc.Lock()
    left, sold = mproc.Value("i", 3, lock=False), mproc.Value("i", 0, lock=False)
    buyers = [mproc.Process(target=_buy, args=(lock, left, sold)) for _ in range(5)]
    for p in buyers:
        p.start()
    for p in buyers:
        p.join(TIMEOUT)
    assert (sold.value, left.value) == (3, 0), (sold.value, left.value)
    return "5 buyers, 3 tickets: exactly 3 sold, 0 left"


def _sing(sem: Any, inside: Any, peak: Any) -> None:
    with sem:
        with inside.get_lock():
            inside.value += 1
            peak.value = max(peak.value, inside.value)
        time.sleep(0.05)
        with inside.get_lock():
            inside.value -= 1


def semaphore() -> str:
    sem = mproc.Semaphore(2)
    inside, peak = mproc.Value("i", 0), mproc.Value("i", 0)
    singers = [mproc.Process(target=_sing, args=(sem, inside, peak)) for _ in range(6)]
    for p in singers:
        p.start()
    for p in singers:
        p.join(TIMEOUT)
    assert peak.value == 2, peak.value
    return f"6 singers, at most {peak.value} at a time"


def _car(light: Any, passed: Any) -> None:
    light.wait(TIMEOUT)
    with passed.get_lock():
        passed.value += 1


def traffic_light() -> str:
    light, passed = mproc.Event(), mproc.Value("i", 0)
    cars = [mproc.Process(target=_car, args=(light, passed)) for _ in range(4)]
    for p in cars:
        p.start()
    time.sleep(0.2)
    waiting = passed.value
    light.set()
    for p in cars:
        p.join(TIMEOUT)
    assert (waiting, passed.value) == (0, 4), (waiting, passed.value)
    return "4 cars stopped at red, all passed on green"


def _write(q: Any) -> None:
    for value in "ABC":
        q.put(value)


def _read(q: Any, out: Any) -> None:
    while True:
        out.send(q.get())


def queue_writer_reader() -> str:
    q = mproc.Queue()
    reader_end, writer_end = mproc.Pipe(duplex=False)
    writer = mproc.Process(target=_write, args=(q,))
    reader = mproc.Process(target=_read, args=(q, writer_end))
    writer.start()
    reader.start()
    got = [reader_end.recv() for _ in range(3)]
    writer.join(TIMEOUT)
    reader.terminate()
    reader.join(TIMEOUT)
    reader_end.close()
    writer_end.close()
    assert got == ["A", "B", "C"], got
    return f"reader got {''.join(got)} in order, then was terminated"


def _pong(conn: Any) -> None:
    conn.send(conn.recv() * 2)


def pipe() -> str:
    parent, child = mproc.Pipe()
    proc = mproc.Process(target=_pong, args=(child,))
    proc.start()
    parent.send(21)
    answer = parent.recv()
    proc.join(TIMEOUT)
    parent.close()
    child.close()
    assert answer == 42
    return "sent 21, the child answered 42"


def _square(x: int) -> int:
    time.sleep(0.05)
    return x * x


def pool_five() -> str:
    with mproc.Pool(4) as pool:
        results = [pool.apply_async(_square, (i,)) for i in range(5)]
        pool.close()
        pool.join()
        values = [r.get(TIMEOUT) for r in results]
    assert values == [0, 1, 4, 9, 16], values
    return f"results {values}"


class _TaskManager(BaseManager):
    pass


_queues: dict[str, Any] = {}


def _queue(name: str) -> Any:
    import queue

    return _queues.setdefault(name, queue.Queue())


def _tasks() -> Any:
    return _queue("tasks")


def _results() -> Any:
    return _queue("results")


_TaskManager.register("get_tasks", callable=_tasks)
_TaskManager.register("get_results", callable=_results)


def distributed() -> str:
    authkey = os.urandom(16)
    manager = _TaskManager(address=("127.0.0.1", 0), authkey=authkey)
    manager.start()
    try:
        tasks = manager.get_tasks()  # type: ignore[attr-defined]
        results = manager.get_results()  # type: ignore[attr-defined]
        for n in range(10):
            tasks.put(n)
        host, port = manager.address
        workers = [subprocess.Popen([sys.executable, "-m", "mproc._cli.demo_worker", host,
                                     str(port), authkey.hex()]) for _ in range(2)]
        got = sorted(results.get(timeout=TIMEOUT) for _ in range(10))
        for worker in workers:
            worker.wait(TIMEOUT)
        del tasks, results
    finally:
        manager.shutdown()
    assert [n for n, _ in got] == list(range(10)) and all(sq == n * n for n, sq in got)
    return "10 tasks done by 2 separate worker programs, every n*n correct"


def lambda_under_spawn() -> str:
    with mproc.get_context("spawn").Pool(2) as pool:
        offset = 100
        values = pool.map(lambda x: x + offset, range(5))
    assert values == [100, 101, 102, 103, 104], values
    return f"pool.map(lambda x: x + offset, range(5)) = {values}"


def _maybe_die(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def killed_worker() -> str:
    from mproc.errors import WorkerLostError

    with mproc.Pool(2) as pool:
        results = [pool.apply_async(_maybe_die, (i,)) for i in range(6)]
        outcomes: list[object] = []
        for r in results:
            try:
                outcomes.append(r.get(TIMEOUT))
            except WorkerLostError as exc:
                outcomes.append(type(exc).__name__)
                message = str(exc)
    assert outcomes == [0, 1, 2, "WorkerLostError", 4, 5], outcomes
    return f"{outcomes}; {message.splitlines()[0]}"


def task_timeout() -> str:
    from mproc.errors import TaskTimeoutError

    with mproc.Pool(2) as pool:
        slow = pool.apply_async(time.sleep, (30,), timeout=0.5)
        fast = pool.apply_async(_square, (7,))
        try:
            slow.get(TIMEOUT)
        except TaskTimeoutError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        else:
            raise AssertionError("the slow task was not stopped")
        assert fast.get(TIMEOUT) == 49
    return outcome.splitlines()[0]


def progress() -> str:
    seen: list[tuple[int, int | None]] = []
    with mproc.Pool(2) as pool:
        values = pool.map(_square, range(8), progress=lambda done, total: seen.append((done, total)))
    assert values == [x * x for x in range(8)] and seen and seen[-1] == (8, 8), seen
    return f"callback saw {len(seen)} updates, last {seen[-1]}"
