"""A Listener no client can stall: handshakes run concurrently, at a bounded cost.

Each flood test runs three parties: the server (a Listener in this process, or a
manager process), an attacker process (stalled connections held open, then a
connect-and-close flood that goes on until the legitimate clients are done) and a
process of legitimate clients that connect one after the other and time each
one from before ``connect`` to its answer.
"""

from __future__ import annotations

import os
import socket
import statistics
import struct
import threading
import time
import tracemalloc

import pytest

import mproc
from mproc.connection import Client, Listener
from mproc.errors import AuthenticationError
from mproc.managers import BaseManager

from .helpers import started

TIMEOUT = 30
KEY = b"flood test key"
LEGIT = 100
SILENT = 50
HALF_SENT = 20
FLOOD = 2000
ANSWER_WITHIN = 0.1  # seconds from connect to answer, for every legitimate client
_FRAME = struct.Struct("!I")


# -- the parties ----------------------------------------------------------------------


def _family_of(address):
    return socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX


def _closed_by_peer(sock):
    """Whether the listener closed ``sock`` (what it sent before is read and dropped)."""
    sock.setblocking(False)
    try:
        while sock.recv(4096):
            pass
        return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def _attack(address, go, flooding, done, report, rate):
    """Hold SILENT silent and HALF_SENT half-sent connections open, then connect and
    close until the legitimate clients are ``done`` (at least FLOOD times), as fast
    as possible or at ``rate`` attempts a second."""
    family = _family_of(address)
    stalled = []
    try:
        go.wait(TIMEOUT)
        for _ in range(SILENT):
            sock = socket.socket(family)
            sock.connect(address)
            stalled.append(sock)
        for i in range(HALF_SENT):
            sock = socket.socket(family)
            sock.connect(address)
            # A response frame announcing 200 bytes (allowed), and fewer of them.
            sock.sendall(_FRAME.pack(200) + b"x" * (1 + i * 9))
            stalled.append(sock)
        flooded = 0
        started_at = next_burst = time.monotonic()
        while flooded < FLOOD or not done.is_set():
            sock = socket.socket(family)
            try:
                sock.connect(address)
            finally:
                sock.close()
            flooded += 1
            if flooded == 100:
                flooding.set()
            if rate and flooded % 10 == 0:
                next_burst += 10 / rate
                time.sleep(max(0.0, next_burst - time.monotonic()))
            if time.monotonic() - started_at > 2 * TIMEOUT:
                break
        flood_seconds = time.monotonic() - started_at
        still_open = sum(not _closed_by_peer(sock) for sock in stalled)
        report.send((flooded, flood_seconds, still_open))
    finally:
        flooding.set()
        for sock in stalled:
            sock.close()
        report.close()


def _legit_clients(address, flooding, done, report):
    """LEGIT clients, one after the other: connect, ask, time the answer."""
    try:
        flooding.wait(TIMEOUT)
        latencies = []
        for i in range(LEGIT):
            start = time.monotonic()
            with Client(address, authkey=KEY) as conn:
                conn.send(i)
                answer = conn.recv()
            latencies.append(time.monotonic() - start)
            if answer != i:
                raise AssertionError(f"client {i} was answered {answer!r}")
        report.send(latencies)
    finally:
        done.set()
        report.close()


def _timed_call(proxy, i, box):
    start = time.monotonic()
    answer = proxy.echo(i)
    box.append((time.monotonic() - start, answer))


def _legit_proxy_clients(proxy, flooding, done, report):
    """LEGIT proxy calls, each on a new thread, so each opens (and authenticates)
    a new connection to the manager: connect, handshake, call, answer."""
    try:
        flooding.wait(TIMEOUT)
        latencies = []
        for i in range(LEGIT):
            box: list = []
            thread = threading.Thread(target=_timed_call, args=(proxy, i, box))
            thread.start()
            thread.join(TIMEOUT)
            latency, answer = box[0]
            latencies.append(latency)
            if answer != i:
                raise AssertionError(f"call {i} was answered {answer!r}")
        report.send(latencies)
    finally:
        done.set()
        report.close()


def _fds(pid="self"):
    return set(os.listdir(f"/proc/{pid}/fd"))


def _wait_for_fds(pid, baseline, timeout=10):
    """The fds of ``pid`` once no fd beyond ``baseline`` is left (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        now = _fds(pid)
        if now <= baseline or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def _run_siege(ctx, address, legit_target, legit_arg, server_pid="self", rate=None):
    """Attacker and legitimate clients against ``address``; returns the latencies,
    the attack's report, and the server's fds before the attack and after it."""
    go, flooding, done = ctx.Event(), ctx.Event(), ctx.Event()
    legit_r, legit_w = ctx.Pipe(duplex=False)
    attack_r, attack_w = ctx.Pipe(duplex=False)
    attacker = ctx.Process(target=_attack, args=(address, go, flooding, done, attack_w, rate))
    legit = ctx.Process(target=legit_target, args=(legit_arg, flooding, done, legit_w))
    try:
        with started(attacker, legit):
            attack_w.close()
            legit_w.close()
            # After the start: the start method's helpers (forkserver, resource
            # tracker) are running and their fds are in the baseline.
            before = _fds(server_pid)
            go.set()
            assert legit_r.poll(3 * TIMEOUT), "the legitimate clients did not finish"
            latencies = legit_r.recv()
            assert attack_r.poll(3 * TIMEOUT), "the attacker did not finish"
            report = attack_r.recv()
            for proc in (attacker, legit):
                proc.join(TIMEOUT)
        assert legit.exitcode == 0 and attacker.exitcode == 0
    finally:
        legit_r.close()
        attack_r.close()
        for proc in (attacker, legit):
            proc.close()
    after = _wait_for_fds(server_pid, before)
    return latencies, report, before, after


def _check_latencies(latencies, what):
    worst = max(latencies)
    summary = (f"{what}: {len(latencies)} clients, median {statistics.median(latencies) * 1e3:.2f}"
               f" ms, p95 {sorted(latencies)[94] * 1e3:.2f} ms, worst {worst * 1e3:.2f} ms")
    print(summary)
    assert len(latencies) == LEGIT
    assert worst < ANSWER_WITHIN, summary


# -- against a Listener ------------------------------------------------------------------


def _echo_server(listener, served):
    """Answer each authenticated connection's one message (only they reach here)."""
    while True:
        try:
            conn = listener.accept()
        except OSError:
            return  # closed
        with conn:
            try:
                if conn.poll(TIMEOUT):
                    message = conn.recv()
                    served.append(True)  # before the answer: the client may check at once
                    conn.send(message)
            except (EOFError, OSError):
                pass


# Over TCP the flood is paced (5,000 attempts a second, still 2,000 in all): an
# attacker that connects faster than the server accepts overflows the kernel's
# accept queue, and the kernel then drops the SYNs of every client (counted in
# TcpExtListenOverflows), so a legitimate one waits a second for its SYN to be sent
# again. No listener can prevent that; what it can prevent is being stalled by the
# connections it did accept. Over Unix sockets a full queue only makes connect()
# wait its turn, and there the flood runs flat out.
def _siege_listener(ctx, family, rate):
    method = ctx.get_start_method()
    # max_pending above the 70 stalled connections: they all stay pending for the
    # whole run (handshake_timeout is longer than it), so what keeps the
    # legitimate clients prompt is that the handshakes run concurrently.
    address = ("127.0.0.1", 0) if family == "AF_INET" else None
    listener = Listener(address, family=family, backlog=128, authkey=KEY,
                        handshake_timeout=TIMEOUT, max_pending=256)
    served: list = []
    server = threading.Thread(target=_echo_server, args=(listener, served))
    server.start()
    try:
        latencies, report, before, after = _run_siege(
            ctx, listener.address, _legit_clients, listener.address, rate=rate)
        flooded, flood_seconds, still_open = report
        print(f"\nListener {family}/{method}: {flooded} connect-and-close in "
              f"{flood_seconds:.2f} s, {still_open} stalled connections still pending")
        _check_latencies(latencies, f"Listener {family}/{method}")
        assert flooded >= FLOOD
        assert still_open == SILENT + HALF_SENT  # held, not dropped, while serving
        assert len(served) == LEGIT
        # The attacker is gone: every socket it left with the server is closed.
        assert after <= before, sorted(after - before)
        assert listener._engine.pending == 0
    finally:
        listener.close()
        server.join(TIMEOUT)
    assert not server.is_alive()


def test_listener_serves_clients_promptly_under_siege(ctx):
    _siege_listener(ctx, "AF_UNIX", rate=None)  # the flood flat out


# Over TCP the flood is paced (5,000 attempts a second, still 2,000 at least): an
# attacker that connects faster than the server accepts overflows the kernel's
# accept queue, and the kernel then drops the SYNs of every client (counted in
# TcpExtListenOverflows), so a legitimate one waits a second for its SYN to be sent
# again. No listener can prevent that; what it can prevent is being stalled by the
# connections it did accept. Over Unix sockets a full queue only makes connect()
# wait its turn, and there the flood runs flat out. One start method suffices here.
def test_listener_serves_tcp_clients_promptly_under_siege():
    _siege_listener(mproc.get_context("fork"), "AF_INET", rate=5000)


def test_oldest_pending_handshake_is_dropped_first_at_the_bound():
    with Listener(authkey=KEY, max_pending=3, handshake_timeout=TIMEOUT) as listener:
        accepted: list = []
        server = threading.Thread(target=_echo_server, args=(listener, accepted))
        server.start()
        silent: list = []

        def connect_silent():
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(listener.address)
            sock.settimeout(TIMEOUT)
            # Its challenge arrives once the listener holds it as pending.
            (size,) = _FRAME.unpack(sock.recv(4, socket.MSG_WAITALL))
            assert sock.recv(size, socket.MSG_WAITALL).startswith(b"#CHALLENGE#")
            silent.append(sock)

        try:
            for _ in range(3):
                connect_silent()
            assert [_closed_by_peer(s) for s in silent] == [False] * 3
            connect_silent()  # a fourth: the first goes
            assert [_closed_by_peer(s) for s in silent] == [True, False, False, False]
            connect_silent()  # a fifth: the second goes
            assert [_closed_by_peer(s) for s in silent] == [True, True, False, False, False]
            # A good client takes the place of the oldest (the third) and completes.
            with Client(listener.address, authkey=KEY) as conn:
                conn.send("through")
                assert conn.poll(TIMEOUT) and conn.recv() == "through"
            assert [_closed_by_peer(s) for s in silent][2:] == [True, False, False]
            assert accepted == [True]
        finally:
            for sock in silent:
                sock.close()
            listener.close()
            server.join(TIMEOUT)
        assert not server.is_alive()


@pytest.mark.parametrize("header", [_FRAME.pack(1 << 30),
                                    _FRAME.pack(0xFFFFFFFF) + struct.pack("!Q", 1 << 30)],
                         ids=["4-byte length", "8-byte length"])
def test_a_1gb_frame_announcement_is_dropped_unallocated(header):
    with Listener(authkey=KEY, handshake_timeout=TIMEOUT) as listener:
        served: list = []
        server = threading.Thread(target=_echo_server, args=(listener, served))
        server.start()
        tracemalloc.start()
        try:
            with socket.socket(socket.AF_UNIX) as raw:
                raw.connect(listener.address)
                raw.settimeout(TIMEOUT)
                (size,) = _FRAME.unpack(raw.recv(4, socket.MSG_WAITALL))
                raw.recv(size, socket.MSG_WAITALL)  # the challenge
                tracemalloc.reset_peak()
                start = time.monotonic()
                raw.sendall(header + b"x" * 4096)
                raw.setblocking(True)
                try:
                    while raw.recv(4096):
                        pass
                except ConnectionResetError:
                    pass
                dropped_after = time.monotonic() - start
            _current, peak = tracemalloc.get_traced_memory()
            # Dropped on reading the header: not at the deadline, nothing allocated.
            assert dropped_after < TIMEOUT / 6
            assert peak < 1 << 20, f"{peak} bytes allocated while the frame was announced"
            with Client(listener.address, authkey=KEY) as conn:
                conn.send("still here")
                assert conn.poll(TIMEOUT) and conn.recv() == "still here"
        finally:
            tracemalloc.stop()
            listener.close()
            server.join(TIMEOUT)
        assert not server.is_alive()


# -- against a manager server -------------------------------------------------------------


class Echo:
    def echo(self, value):
        return value


class FloodManager(BaseManager):
    pass


FloodManager.register("Echo", callable=Echo)


def test_manager_serves_proxy_calls_promptly_under_siege(ctx):
    manager = FloodManager(authkey=KEY, ctx=ctx)
    manager.start()
    proxy = None
    try:
        proxy = manager.Echo()
        assert proxy.echo("warm") == "warm"
        method = ctx.get_start_method()
        latencies, report, before, after = _run_siege(
            ctx, manager.address, _legit_proxy_clients, proxy, manager._process.pid)
        flooded, flood_seconds, still_open = report
        print(f"\nmanager/{method}: {flooded} connect-and-close in {flood_seconds:.2f} s, "
              f"{still_open} stalled connections still pending")
        _check_latencies(latencies, f"manager/{method}")
        assert flooded >= FLOOD
        # Every connection of the attacker and of the clients' threads is closed
        # in the server too: no fd (and no connection thread) left behind.
        assert after <= before, f"{len(after - before)} more fds than before"
        assert proxy.echo("after") == "after"
    finally:
        proxy = None  # its connection closes now, even if an assertion failed
        manager.shutdown()


# -- the same bytes on the wire, and the blocking path ----------------------------------


@pytest.mark.parametrize("family", ["AF_UNIX", "AF_INET"])
def test_stdlib_client_passes_the_engines_handshake(family):
    from multiprocessing.connection import Client as StdlibClient

    with Listener(family=family, authkey=KEY) as listener:
        results: list = []
        server = threading.Thread(target=_echo_server, args=(listener, results))
        server.start()
        try:
            with StdlibClient(listener.address, authkey=KEY) as conn:
                conn.send({"from": "stdlib"})
                assert conn.poll(TIMEOUT) and conn.recv() == {"from": "stdlib"}
            with pytest.raises(Exception, match="digest"):  # stdlib's AuthenticationError
                StdlibClient(listener.address, authkey=b"wrong")
            assert results == [True]
        finally:
            listener.close()
            server.join(TIMEOUT)
        assert not server.is_alive()


def test_accept_unauthenticated_then_authenticate_still_blocks_and_raises():
    with Listener(authkey=KEY, handshake_timeout=TIMEOUT) as listener:
        outcomes: list = []

        def serve_two():
            for _ in range(2):
                sock = listener.accept_unauthenticated()
                try:
                    conn = listener.authenticate(sock)
                except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                    outcomes.append(exc)
                    continue
                with conn:
                    conn.send(conn.recv())
                    outcomes.append("served")

        server = threading.Thread(target=serve_two)
        server.start()
        try:
            with Client(listener.address, authkey=KEY) as conn:
                conn.send("legacy")
                assert conn.poll(TIMEOUT) and conn.recv() == "legacy"
            with pytest.raises(AuthenticationError):
                Client(listener.address, authkey=b"wrong")
            server.join(TIMEOUT)
            assert not server.is_alive()
            assert outcomes[0] == "served" and isinstance(outcomes[1], AuthenticationError)
        finally:
            listener.close()
            server.join(TIMEOUT)


def test_stalled_tls_handshakes_stall_no_one():
    from .test_tls import client_context, server_context

    with Listener(("127.0.0.1", 0), backlog=128, authkey=KEY, ssl_context=server_context(),
                  handshake_timeout=TIMEOUT) as listener:
        served: list = []
        server = threading.Thread(target=_echo_server, args=(listener, served))
        server.start()
        stalled = []
        try:
            for i in range(20):
                sock = socket.create_connection(listener.address)
                if i % 2:  # a TLS record header announcing 512 bytes, and 3 of them
                    sock.sendall(b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01")
                stalled.append(sock)
            context = client_context()
            latencies = []
            for i in range(20):
                start = time.monotonic()
                with Client(listener.address, authkey=KEY, ssl_context=context) as conn:
                    conn.send(i)
                    assert conn.poll(TIMEOUT) and conn.recv() == i
                latencies.append(time.monotonic() - start)
            print(f"\nTLS: 20 clients past 20 stalled TLS handshakes, median "
                  f"{statistics.median(latencies) * 1e3:.2f} ms, worst "
                  f"{max(latencies) * 1e3:.2f} ms")
            assert max(latencies) < ANSWER_WITHIN
            assert [_closed_by_peer(s) for s in stalled] == [False] * 20  # still pending
            assert len(served) == 20
        finally:
            for sock in stalled:
                sock.close()
            listener.close()
            server.join(TIMEOUT)
        assert not server.is_alive()


def test_two_threads_in_accept_each_get_a_connection():
    with Listener(authkey=KEY) as listener:
        got: list = []

        def accept_one():
            try:
                got.append(listener.accept())
            except OSError as exc:
                got.append(exc)

        threads = [threading.Thread(target=accept_one) for _ in range(2)]
        for thread in threads:
            thread.start()
        clients = [Client(listener.address, authkey=KEY) for _ in range(2)]
        try:
            for thread in threads:
                thread.join(TIMEOUT)
            assert not any(thread.is_alive() for thread in threads)
            assert len(got) == 2 and all(not isinstance(c, OSError) for c in got)
            for i, client in enumerate(clients):
                client.send(i)
            assert sorted(conn.recv() for conn in got) == [0, 1]
        finally:
            for conn in clients + [c for c in got if not isinstance(c, OSError)]:
                conn.close()
            listener.close()
            for thread in threads:
                thread.join(TIMEOUT)
