"""HMAC challenge and response, and the handshake frames around them.

The challenge is ``#CHALLENGE#{sha256}`` followed by 40 random bytes; the response
is ``{sha256}`` followed by the HMAC of the whole challenge under the authkey. A
response without a ``{digest}`` prefix is read as legacy HMAC-MD5. Both sides
challenge each other (mutual authentication).

A listener without an authkey sends ``#OPEN#`` instead of a challenge, so a client
that holds a key learns at once that the two disagree, rather than both sides
waiting for each other forever.
"""

from __future__ import annotations

import os

from ..errors import AuthenticationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CHALLENGE",
    "WELCOME",
    "FAILURE",
    "OPEN",
    "MESSAGE_LENGTH",
    "deliver_challenge",
    "answer_challenge",
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
_MAX_HANDSHAKE_MESSAGE = 256


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


def deliver_challenge(connection: Any, authkey: bytes, digest_name: str = _DIGEST) -> None:
    """Challenge the peer to prove it holds ``authkey``."""
    authkey = _check_key(authkey)
    message = b"{%s}%s" % (digest_name.encode("ascii"), os.urandom(MESSAGE_LENGTH))
    connection.send_bytes(CHALLENGE + message)
    response = connection.recv_bytes(_MAX_HANDSHAKE_MESSAGE)
    try:
        verify_challenge(authkey, message, response)
    except AuthenticationError:
        try:
            connection.send_bytes(FAILURE)
        except OSError:
            pass
        if response == OPEN or response.startswith(CHALLENGE):
            raise AuthenticationError(
                "the peer did not answer the challenge: it has no authkey, or expects "
                "to be challenged first; give both sides the same authkey"
            ) from None
        raise
    connection.send_bytes(WELCOME)


def answer_challenge(connection: Any, authkey: bytes) -> None:
    """Prove to the peer that we hold ``authkey``."""
    authkey = _check_key(authkey)
    message = connection.recv_bytes(_MAX_HANDSHAKE_MESSAGE)
    if message == OPEN:
        try:
            connection.send_bytes(FAILURE)
        except OSError:
            pass
        raise AuthenticationError(
            "the listener does not use an authkey but this client was given one; "
            "give both sides the same authkey (or neither)"
        )
    if not message.startswith(CHALLENGE):
        raise AuthenticationError(f"expected a challenge from the peer, got {message[:20]!r}")
    connection.send_bytes(create_response(authkey, message))
    result = connection.recv_bytes(_MAX_HANDSHAKE_MESSAGE)
    if result != WELCOME:
        raise AuthenticationError("digest sent was rejected: the authkeys differ")
