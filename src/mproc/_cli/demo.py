"""``python -m mproc demo``: a guided tour, first of the tutorials' programs on
mproc, then of what mproc adds. Each step says what it shows and what happened;
a step that fails says so and the tour goes on (exit status 1 at the end)."""

from __future__ import annotations

import os
import sys
import time

import mproc

from . import demo_steps as steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["tour", "STEPS"]

STEPS: list[tuple[str, str, Callable[[], str], bool]] = [
    ("Processes and their names",
     "Process(target, name=...), start/join, current_process().name and the pid.",
     steps.names, False),
    ("Joining ten processes",
     "Ten mail senders started together; join() waits for every one.",
     steps.join_ten, False),
    ("A daemon, and terminate()",
     "A daemonic process ends with its parent; terminate() stops a busy child (exit code -15).",
     steps.daemon_and_terminate, False),
    ("Booking tickets with a Lock",
     "Five buyers, three tickets, one shared counter: with a Lock exactly three are sold.",
     steps.tickets, False),
    ("Semaphore(2)",
     "Six singers, two microphones: never more than two at once.",
     steps.semaphore, False),
    ("An Event as a traffic light",
     "Cars wait on an Event; the light sets it, and they all go.",
     steps.traffic_light, False),
    ("Queue: a writer and a reader",
     "One process puts, another gets; the reader is terminated when done.",
     steps.queue_writer_reader, False),
    ("Pipe",
     "Two ends, send() and recv() between a parent and a child.",
     steps.pipe, False),
    ("Pool(4) with five tasks",
     "apply_async five times, close(), join(), then the results.",
     steps.pool_five, False),
    ("A distributed task queue",
     "A manager serves a task and a result queue on localhost over TCP with an authkey; "
     "two separate worker programs connect by name and do the work.",
     steps.distributed, False),
    ("Beyond the stdlib: a lambda in a Pool, under spawn",
     "The stdlib refuses to pickle a lambda; mproc sends it by value.",
     steps.lambda_under_spawn, False),
    ("Beyond the stdlib: a worker killed mid-task",
     "SIGKILL a worker: only its task fails, with WorkerLostError; the pool goes on.",
     steps.killed_worker, True),
    ("Beyond the stdlib: a per-task timeout",
     "A task that runs too long is stopped and fails with TaskTimeoutError.",
     steps.task_timeout, True),
    ("Beyond the stdlib: progress",
     "map(..., progress=callback) reports (done, total) as results arrive.",
     steps.progress, False),
]


def tour(quick: bool = False) -> int:
    print(f"mproc {mproc.__version__} on Python {sys.version.split()[0]}, "
          f"start method {mproc.get_start_method()}, pid {os.getpid()}\n")
    failures = 0
    started = time.monotonic()
    for number, (title, what, step, slow) in enumerate(STEPS, 1):
        if quick and slow:
            continue
        print(f"{number:2}. {title}\n    {what}")
        t0 = time.monotonic()
        try:
            outcome = step()
        except Exception as exc:  # noqa: BLE001 - a failed step is reported, the tour goes on
            failures += 1
            print(f"    FAILED: {type(exc).__name__}: {exc}\n")
            continue
        print(f"    -> {outcome}  ({time.monotonic() - t0:.1f} s)\n")
    total = time.monotonic() - started
    if failures:
        print(f"{failures} step(s) failed ({total:.1f} s).")
        return 1
    print(f"All steps passed in {total:.1f} s. Use mproc in your code with "
          "`import mproc as multiprocessing`, or run an existing program with "
          "`python -m mproc run script.py`.")
    return 0
