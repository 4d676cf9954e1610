"""Listener/Client over Unix and TCP sockets: authentication and robustness."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

import mproc
from mproc.connection import Client, Listener
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


def test_wrong_key_is_refused_on_both_sides():
    with Listener(authkey=KEY) as listener:
        results: list = []
        thread = threading.Thread(target=_accept_in_thread, args=(listener, results))
        thread.start()
        with pytest.raises(AuthenticationError):
            Client(listener.address, authkey=b"wrong")
        thread.join(TIMEOUT)
        assert isinstance(results[0], AuthenticationError)


@pytest.mark.parametrize(("listener_key", "client_key"), [(KEY, None), (None, KEY)])
def test_key_mismatch_fails_fast_on_both_sides(listener_key, client_key):
    with Listener(authkey=listener_key) as listener:
        results: list = []
        thread = threading.Thread(target=_accept_in_thread, args=(listener, results))
        thread.start()
        start = time.monotonic()
        with pytest.raises(AuthenticationError):
            conn = Client(listener.address, authkey=client_key)
            try:
                conn.send("hello")
                conn.recv()
            finally:
                conn.close()
        thread.join(TIMEOUT)
        server_side = results[0]
        if not isinstance(server_side, Exception):
            with pytest.raises(AuthenticationError):
                server_side.recv()
            server_side.close()
        else:
            assert isinstance(server_side, AuthenticationError)
        assert time.monotonic() - start < 5


def test_silent_client_cannot_block_accept_forever():
    with Listener(authkey=KEY, handshake_timeout=0.5) as listener:
        silent = socket.create_connection(listener.address if isinstance(listener.address, tuple)
                                          else ("", 0)) if False else None
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(listener.address)
        start = time.monotonic()
        with pytest.raises(AuthenticationError, match="handshake"):
            listener.accept()
        assert time.monotonic() - start < 5
        raw.close()
        assert silent is None
        # The listener still serves a well-behaved client afterwards.
        results: list = []
        thread = threading.Thread(target=_accept_in_thread, args=(listener, results))
        thread.start()
        with Client(listener.address, authkey=KEY) as conn:
            conn.send("after")
            thread.join(TIMEOUT)
            with results[0] as server_conn:
                assert server_conn.recv() == "after"


@pytest.mark.parametrize("garbage", [b"\x00\x00\x00\x05abc", b"GET / HTTP/1.1\r\n\r\n",
                                     struct.pack("!I", 0xFFFFFFFF) + struct.pack("!Q", 1 << 60)])
def test_garbage_in_handshake_is_refused(garbage):
    with Listener(family="AF_INET", authkey=KEY, handshake_timeout=1.0) as listener:
        raw = socket.create_connection(listener.address)
        raw.sendall(garbage)
        with pytest.raises((AuthenticationError, OSError)):
            listener.accept()
        raw.close()


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
