"""Connections, Pipe, Listener/Client and wait() (stdlib ``multiprocessing.connection``)."""

from . import util  # the stdlib's package has these after this import
from ._wire.auth import (
    CHALLENGE,
    FAILURE,
    MESSAGE_LENGTH,
    WELCOME,
    answer_challenge,
    deliver_challenge,
)
from ._wire.auth import CHALLENGE as _CHALLENGE
from ._wire.auth import create_response as _create_response
from ._wire.auth import verify_challenge as _verify_challenge
from ._wire.connection import Connection as Connection
from ._wire.connection import rebuild_connection, reduce_connection
from ._wire.listener import (
    Client,
    Listener,
    address_type,
    arbitrary_address,
    default_family,
    families,
)
from ._wire.pipes import Pipe
from ._wire.waiting import wait
from .errors import AuthenticationError, BufferTooShort

__all__ = ["Client", "Listener", "Pipe", "wait"]
