"""HMAC challenge and response, and the handshake frames around them.

The challenge is ``#CHALLENGE#{sha256}`` followed by 40 random bytes; the response
is ``{sha256}`` followed by the HMAC of the whole challenge under the authkey. A
response without a ``{digest}`` prefix is read as legacy HMAC-MD5. Both sides
challenge each other (mutual authentication).

A listener without an authkey sends ``#OPEN#`` instead of a challenge, so a client
that holds a key learns at once that the two disagree, rather than both sides
waiting for each other forever.

Each side of the handshake is written once, as a generator of I/O *steps*:
``(SEND, frame)``, ``(SEND_QUIETLY, frame)`` (a courtesy whose failure does not
matter) and ``(RECV, maxlength)``, which is sent the payload of the next frame.
``run_steps`` performs them on a blocking Connection (the client, ``authenticate``,
and the stdlib-compatible ``deliver_challenge``/``answer_challenge``); the
listener's engine (``accepting.py``) performs the same steps without blocking, for
many pending connections at once. The two paths cannot drift apart.
"""

from __future__ import annotations

import os

from ..errors import AuthenticationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import Any, TypeVar

    T = TypeVar("T")
    # (SEND | SEND_QUIETLY, payload) or (RECV, maxlength); RECV is sent the payload.
    Step = tuple[str, Any]
    Steps = Generator[Step, "bytes | None", T]
    FrameCheck = Callable[[bytes], bool]

__all__ = [
    "CHALLENGE",
    "WELCOME",
    "FAILURE",
    "OPEN",
    "MESSAGE_LENGTH",
    "MAX_HANDSHAKE_MESSAGE",
    "SEND",
    "SEND_QUIETLY",
    "RECV",
    "deliver_challenge",
    "answer_challenge",
    "deliver_steps",
    "answer_steps",
    "server_steps",
    "client_steps",
    "run_steps",
    "create_response",
    "verify_challenge",
]

MESSAGE_LENGTH = 40
CHALLENGE = b"#CHALLENGE#"
WELCOME = b"#WELCOME#"
FAILURE = b"#FAILURE#"
OPEN = b"#OPEN#"
_DIGEST = "sha256"
_ALLOWED_DIGESTS = {"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "md5"}
MAX_HANDSHAKE_MESSAGE = 256  # no handshake frame is longer: a longer one is refused unread
_MAX_HANDSHAKE_MESSAGE = MAX_HANDSHAKE_MESSAGE
SEND = "send"
SEND_QUIETLY = "send quietly"
RECV = "recv"


def _split_digest(message: bytes) -> tuple[str, bytes]:
    """``{name}rest`` -> (name, rest); a message without a prefix is legacy MD5."""
    if message.startswith(b"{"):
        end = message.find(b"}", 1, 20)
        if end > 0:
            name = message[1:end].decode("ascii", "replace")
            return name, message[end + 1:]
    return "md5", message


def create_response(authkey: bytes, message: bytes) -> bytes:
    """Answer a challenge ``message`` (with or without the #CHALLENGE# marker)."""
    import hmac

    if message.startswith(CHALLENGE):
        message = message[len(CHALLENGE):]
    name, _ = _split_digest(message)
    if name not in _ALLOWED_DIGESTS:
        raise AuthenticationError(f"peer asked for unsupported digest {name!r}")
    mac = hmac.new(authkey, message, name).digest()
    return mac if not message.startswith(b"{") else b"{%s}%s" % (name.encode(), mac)


def verify_challenge(authkey: bytes, message: bytes, response: bytes) -> None:
    """Raise AuthenticationError unless ``response`` answers ``message``."""
    import hmac

    if message.startswith(CHALLENGE):
        message = message[len(CHALLENGE):]
    name, mac = _split_digest(response)
    if name not in _ALLOWED_DIGESTS:
        raise AuthenticationError(f"peer answered with unsupported digest {name!r}")
    expected = hmac.new(authkey, message, name).digest()
    if len(mac) != len(expected) or not hmac.compare_digest(mac, expected):
        raise AuthenticationError("digest received was wrong")


def _check_key(authkey: Any) -> bytes:
    if not isinstance(authkey, bytes):
        raise ValueError(f"Authkey must be bytes, not {type(authkey).__name__}")
    return authkey


def deliver_steps(authkey: bytes, digest_name: str = _DIGEST) -> Steps[None]:
    """Challenge the peer to prove it holds ``authkey`` (as steps)."""
    authkey = _check_key(authkey)
    message = b"{%s}%s" % (digest_name.encode("ascii"), os.urandom(MESSAGE_LENGTH))
    yield (SEND, CHALLENGE + message)
    response = yield (RECV, _MAX_HANDSHAKE_MESSAGE)
    assert response is not None
    try:
        verify_challenge(authkey, message, response)
    except AuthenticationError:
        yield (SEND_QUIETLY, FAILURE)
        if response == OPEN or response.startswith(CHALLENGE):
            raise AuthenticationError(
                "the peer did not answer the challenge: it has no authkey, or expects "
                "to be challenged first; give both sides the same authkey"
            ) from None
        raise
    yield (SEND, WELCOME)


def answer_steps(authkey: bytes) -> Steps[None]:
    """Prove to the peer that we hold ``authkey`` (as steps)."""
    authkey = _check_key(authkey)
    message = yield (RECV, _MAX_HANDSHAKE_MESSAGE)
    assert message is not None
    if message == OPEN:
        yield (SEND_QUIETLY, FAILURE)
        raise AuthenticationError(
            "the listener does not use an authkey but this client was given one; "
            "give both sides the same authkey (or neither)"
        )
    if not message.startswith(CHALLENGE):
        raise AuthenticationError(f"expected a challenge from the peer, got {message[:20]!r}")
    yield (SEND, create_response(authkey, message))
    result = yield (RECV, _MAX_HANDSHAKE_MESSAGE)
    if result != WELCOME:
        raise AuthenticationError("digest sent was rejected: the authkeys differ")


def server_steps(authkey: bytes | None) -> Steps[FrameCheck | None]:
    """A listener's side of a new connection; returns the check the Connection
    applies to the first frame it receives (or None)."""
    if authkey is None:
        # The client may have sent its message and closed already: quietly.
        yield (SEND_QUIETLY, OPEN)
        return _refuse_failure_frame
    yield from deliver_steps(authkey)
    yield from answer_steps(authkey)
    return None


def client_steps(authkey: bytes | None) -> Steps[FrameCheck | None]:
    """A client's side: the mirror of ``server_steps``. Without a key there is
    nothing to wait for; the listener's ``#OPEN#`` is dropped on the first read."""
    if authkey is None:
        return _drop_open_frame
    yield from answer_steps(authkey)
    yield from deliver_steps(authkey)
    return None


def _refuse_failure_frame(frame: bytes) -> bool:
    if frame == FAILURE:
        raise AuthenticationError(
            "the client was given an authkey but this listener has none; "
            "give both sides the same authkey (or neither)"
        )
    return True


def _drop_open_frame(frame: bytes) -> bool:
    if frame == OPEN:
        return False
    if frame.startswith(CHALLENGE):
        raise AuthenticationError(
            "the listener requires an authkey but this client has none; "
            "pass authkey= to Client"
        )
    return True


def run_steps(connection: Any, steps: Steps[T]) -> T:
    """Perform handshake steps on a blocking connection (``send_bytes``/``recv_bytes``)."""
    reply: bytes | None = None
    while True:
        try:
            kind, arg = steps.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        reply = None
        if kind == RECV:
            reply = connection.recv_bytes(arg)
        elif kind == SEND:
            connection.send_bytes(arg)
        else:
            try:
                connection.send_bytes(arg)
            except OSError:
                pass


def deliver_challenge(connection: Any, authkey: bytes, digest_name: str = _DIGEST) -> None:
    """Challenge the peer to prove it holds ``authkey``."""
    run_steps(connection, deliver_steps(authkey, digest_name))


def answer_challenge(connection: Any, authkey: bytes) -> None:
    """Prove to the peer that we hold ``authkey``."""
    run_steps(connection, answer_steps(authkey))
