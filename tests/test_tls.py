"""Listener/Client and managers over TLS, with a self-signed certificate.

The certificate in tests/data is for these tests only (CN=localhost, 127.0.0.1).
"""

from __future__ import annotations

import functools
import os
import ssl
import threading

import pytest

from mproc.connection import Client, Listener
from mproc.errors import AuthenticationError
from mproc.managers import BaseManager

TIMEOUT = 30
DATA = os.path.join(os.path.dirname(__file__), "data")
CERT = os.path.join(DATA, "tls_cert.pem")
KEY_FILE = os.path.join(DATA, "tls_key.pem")
AUTHKEY = b"tls manager key"


def server_context(certfile: str = CERT, keyfile: str = KEY_FILE) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


def client_context(cafile: str = CERT) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile)
    return context


def _accept(listener, results):
    try:
        conn = listener.accept()
        results.append(conn.recv())
        conn.send_bytes(b"y" * (3 << 20))
        conn.recv()
        conn.close()
    except Exception as exc:  # noqa: BLE001 - collected for the assertion
        results.append(exc)


@pytest.mark.parametrize("authkey", [None, AUTHKEY])
def test_listener_client_over_tls(authkey):
    with Listener(("127.0.0.1", 0), authkey=authkey, ssl_context=server_context()) as listener:
        results: list = []
        thread = threading.Thread(target=_accept, args=(listener, results))
        thread.start()
        with Client(listener.address, authkey=authkey, ssl_context=client_context()) as conn:
            conn.send({"hello": "tls"})
            assert conn.recv_bytes() == b"y" * (3 << 20)
            conn.send("bye")
        thread.join(TIMEOUT)
        assert results == [{"hello": "tls"}]


def _served_over_tls(listener, thread, results, authkey=None):
    """The thread still in accept() serves a good TLS client (see ``_accept``)."""
    with Client(listener.address, authkey=authkey, ssl_context=client_context()) as conn:
        conn.send("good")
        assert conn.recv_bytes() == b"y" * (3 << 20)
        conn.send("bye")
    thread.join(TIMEOUT)
    assert not thread.is_alive() and results == ["good"]


# A client that fails the TLS handshake is dropped by the listener (and logged);
# accept() does not raise for it but goes on to the next client.

def test_untrusted_certificate_is_refused():
    wrong = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts nothing
    with Listener(("127.0.0.1", 0), ssl_context=server_context()) as listener:
        results: list = []
        thread = threading.Thread(target=_accept, args=(listener, results))
        thread.start()
        try:
            with pytest.raises(ssl.SSLError):
                Client(listener.address, ssl_context=wrong)
            assert thread.is_alive() and not results
            _served_over_tls(listener, thread, results)
        finally:
            listener.close()
            thread.join(TIMEOUT)


def test_plain_client_cannot_talk_to_tls_listener():
    with Listener(("127.0.0.1", 0), authkey=AUTHKEY, ssl_context=server_context(),
                  handshake_timeout=2) as listener:
        results: list = []
        thread = threading.Thread(target=_accept, args=(listener, results))
        thread.start()
        try:
            with pytest.raises((AuthenticationError, OSError)):
                conn = Client(listener.address, authkey=AUTHKEY, handshake_timeout=2)
                conn.close()
            assert thread.is_alive() and not results
            _served_over_tls(listener, thread, results, authkey=AUTHKEY)
        finally:
            listener.close()
            thread.join(TIMEOUT)


class TLSManager(BaseManager):
    pass


_store: dict = {}


def _shared_dict():
    return _store


TLSManager.register("shared", callable=_shared_dict)


def _child_writes(proxy):
    proxy.update(child=os.getpid())


def test_manager_over_tls_under_every_start_method(ctx):
    manager = TLSManager(
        address=("127.0.0.1", 0), authkey=AUTHKEY, ctx=ctx,
        ssl_context=functools.partial(client_context, CERT),
        server_ssl_context=functools.partial(server_context, CERT, KEY_FILE))
    manager.start()
    try:
        shared = manager.shared()
        shared.update(parent=os.getpid())
        proc = ctx.Process(target=_child_writes, args=(shared,))
        proc.start()
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
        assert shared.get("child") == proc.pid and shared.get("parent") == os.getpid()
        with pytest.raises((AuthenticationError, OSError)):  # no TLS: refused
            Client(manager.address, authkey=AUTHKEY, handshake_timeout=1).close()
        del shared
    finally:
        manager.shutdown()


def test_sslcontext_object_cannot_reach_a_spawned_manager():
    import mproc

    manager = TLSManager(address=("127.0.0.1", 0), authkey=AUTHKEY,
                         ctx=mproc.get_context("spawn"), server_ssl_context=server_context())
    with pytest.raises(TypeError, match="function that builds it"):
        manager.start()
