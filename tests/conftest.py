"""Shared fixtures: every process test runs under each start method, and every test
is checked for leaked child processes and file descriptors."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator

import pytest

import mproc
from mproc._launch.forkserver import forkserver

START_METHODS = ["fork", "spawn", "forkserver"]


@pytest.fixture(params=START_METHODS)
def start_method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ctx(start_method: str) -> mproc.context.BaseContext:
    return mproc.get_context(start_method)


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def _helper_fds() -> set[int]:
    """fds owned by mproc's long-lived helpers (started once, on demand)."""
    fds = set()
    sock = forkserver._sock
    if sock is not None and sock.fileno() >= 0:
        fds.add(sock.fileno())
    from mproc._runtime.state import STATE
    from mproc._serialize.fds import _sharer

    if _sharer._listener is not None:
        fds.add(_sharer._listener.fileno())
    fds.update(STATE.helper_fds.values())  # e.g. the resource tracker's pipe
    from mproc._launch import guardian

    if guardian._sock is not None and guardian._sock.fileno() >= 0:
        fds.add(guardian._sock.fileno())  # the guardian of fork children
    from mproc import _process

    spare = _process._spare_stdin
    if spare is not None and not spare.closed:
        fds.add(spare.fileno())  # the next fork child's sys.stdin
    return fds


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a child process or an fd behind."""
    before_children = set(mproc.active_children())
    before_fds = _open_fds()
    yield
    deadline = time.monotonic() + 5
    while True:
        gc.collect()
        children = set(mproc.active_children()) - before_children
        leaked = _open_fds() - before_fds - _helper_fds()
        # /proc listing itself opens an fd briefly; check the leaks are real.
        leaked = {fd for fd in leaked if _is_open(fd)}
        if (not children and not leaked) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for child in children:
        child.kill()
        child.join(5)
    assert not children, f"test left child processes running: {children}"
    assert not leaked, f"test left fds open: {sorted(leaked)} -> {[_describe(fd) for fd in leaked]}"


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _describe(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"
