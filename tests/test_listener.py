"""Listener/Client over Unix and TCP sockets: authentication and robustness."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

import mproc
from mproc.connection import Client, Connection, Listener
from mproc.errors import AuthenticationError

TIMEOUT = 30
KEY = b"secret key"


def _client_send(address, authkey, message):
    with Client(address, authkey=authkey) as conn:
        conn.send(message)
        conn.recv()  # wait for the ack so the listener reads before we close


@pytest.mark.parametrize("family", ["AF_UNIX", "AF_INET"])
@pytest.mark.parametrize("authkey", [None, KEY])
def test_listener_client_across_processes(ctx, family, authkey):
    with Listener(family=family, authkey=authkey) as listener:
        proc = ctx.Process(target=_client_send, args=(listener.address, authkey, "hello"))
        proc.start()
        with listener.accept() as conn:
            assert conn.recv() == "hello"
            conn.send("ack")
        assert listener.last_accepted is not None
        proc.join(TIMEOUT)
        assert proc.exitcode == 0


def test_client_before_accept_in_one_thread():
    with Listener() as listener:
        client = Client(listener.address)
        server = listener.accept()
        server.send_bytes(b"hello")
        assert client.poll(TIMEOUT)
        assert client.recv_bytes() == b"hello"
        client.send("back")
        assert server.recv() == "back"
        client.close()
        server.close()


def _accept_in_thread(listener, results):
    try:
        conn = listener.accept()
        results.append(conn)
    except Exception as exc:  # noqa: BLE001 - recorded for the assertion
        results.append(exc)


def _start_accepting(listener):
    """A thread blocked in ``listener.accept()``, and the list it reports to."""
    results: list = []
    thread = threading.Thread(target=_accept_in_thread, args=(listener, results))
    thread.start()
    return thread, results


def _stop_accepting(listener, thread, results):
    """Close the listener: a thread blocked in accept() wakes with OSError."""
    listener.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    for item in results:
        if isinstance(item, Connection):
            item.close()


def _served(listener, thread, results, authkey=KEY):
    """A well-behaved client is accepted by the waiting thread and served."""
    with Client(listener.address, authkey=authkey) as conn:
        conn.send("after")
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        with results[0] as server_conn:
            assert server_conn.recv() == "after"


def _wait_closed_by_peer(sock, timeout=TIMEOUT):
    """Read until the listener closes ``sock``; return what it sent before that."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return received


# accept() used to raise AuthenticationError for a client that failed its
# handshake. A server calls accept() in a loop, and one bad client must not be able
# to reach (or stop) that loop: the failing client is dropped and logged, and
# accept() returns the next client that succeeds. The client still gets its error.

def test_wrong_key_is_refused_and_the_listener_goes_on():
    with Listener(authkey=KEY) as listener:
        thread, results = _start_accepting(listener)
        try:
            with pytest.raises(AuthenticationError):
                Client(listener.address, authkey=b"wrong")
            assert thread.is_alive() and not results  # dropped; accept() goes on
            _served(listener, thread, results)
        finally:
            _stop_accepting(listener, thread, results)


@pytest.mark.parametrize(("listener_key", "client_key"), [(KEY, None), (None, KEY)])
def test_key_mismatch_fails_fast_on_both_sides(listener_key, client_key):
    with Listener(authkey=listener_key) as listener:
        thread, results = _start_accepting(listener)
        try:
            start = time.monotonic()
            with pytest.raises(AuthenticationError):
                conn = Client(listener.address, authkey=client_key)
                try:
                    conn.send("hello")
                    conn.recv()
                finally:
                    conn.close()
            assert time.monotonic() - start < 5
            if listener_key is None:
                # No handshake to fail on this side: the connection is handed out,
                # and its first read raises.
                thread.join(TIMEOUT)
                with results[0] as server_side, pytest.raises(AuthenticationError):
                    server_side.recv()
            else:
                assert thread.is_alive() and not results  # dropped; accept() goes on
                _served(listener, thread, results, authkey=listener_key)
        finally:
            _stop_accepting(listener, thread, results)


def test_silent_client_delays_no_one_and_is_dropped_at_its_deadline():
    timeout = 1.0
    with Listener(authkey=KEY, handshake_timeout=timeout) as listener:
        silent = socket.socket(socket.AF_UNIX)
        silent.connect(listener.address)
        connected = time.monotonic()
        thread, results = _start_accepting(listener)
        try:
            _served(listener, thread, results)
            # Served while the silent client was still pending, not after it.
            assert time.monotonic() - connected < timeout
            # The next accept() drops the silent client at its own deadline.
            thread, results = _start_accepting(listener)
            received = _wait_closed_by_peer(silent)
            elapsed = time.monotonic() - connected
            assert received.startswith(struct.pack("!I", len(received) - 4) + b"#CHALLENGE#")
            assert timeout * 0.9 <= elapsed < timeout + 5
            assert thread.is_alive() and not results
        finally:
            silent.close()
            _stop_accepting(listener, thread, results)
        assert isinstance(results[0], OSError)  # close() woke the blocked accept()


@pytest.mark.parametrize("garbage", [b"\x00\x00\x00\x05abc", b"GET / HTTP/1.1\r\n\r\n",
                                     struct.pack("!I", 0xFFFFFFFF) + struct.pack("!Q", 1 << 60)])
def test_garbage_in_handshake_is_refused(garbage):
    with Listener(family="AF_INET", authkey=KEY, handshake_timeout=1.0) as listener:
        thread, results = _start_accepting(listener)
        try:
            with socket.create_connection(listener.address) as raw:
                raw.sendall(garbage)
                start = time.monotonic()
                _wait_closed_by_peer(raw)
                # An oversized frame at once; the truncated one at the deadline.
                assert time.monotonic() - start < 5
            assert thread.is_alive() and not results
            _served(listener, thread, results)
        finally:
            _stop_accepting(listener, thread, results)


def test_invalid_family_and_address():
    with pytest.raises(ValueError):
        Listener(r"\\.\pipe\test")
    with pytest.raises(ValueError):
        Listener(family="AF_BOGUS")
    with pytest.raises(ValueError):
        mproc.connection.address_type(42)


def test_abstract_unix_socket():
    with Listener("\0mproc-test-abstract") as listener:
        with Client(listener.address) as client, listener.accept() as server:
            client.send(1729)
            assert server.recv() == 1729
