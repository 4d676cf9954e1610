"""In-process connections for ``mproc.dummy``: queues that look like Connections."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

__all__ = ["Client", "Listener", "Pipe"]

_families = ["AF_INET"]
families = _families


class Connection:
    """One end of a pair of queues, with the Connection API.

    ``send``/``send_bytes`` put on the peer's queue, ``recv``/``recv_bytes`` take
    from this end's (waiting as long as it takes).
    """

    send: Callable[..., None]
    send_bytes: Callable[..., None]
    recv: Callable[..., Any]
    recv_bytes: Callable[..., Any]

    def __init__(self, inbox: queue.Queue[Any], outbox: queue.Queue[Any]) -> None:
        self._in = inbox
        self._out = outbox
        self.send = self.send_bytes = outbox.put
        self.recv = self.recv_bytes = inbox.get

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Whether something can be received, waiting up to ``timeout`` (None: forever)."""
        if self._in.qsize() > 0:
            return True
        if timeout is not None and timeout <= 0.0:
            return False
        with self._in.not_empty:
            self._in.not_empty.wait(timeout)
        return self._in.qsize() > 0

    def close(self) -> None:
        """Nothing to release; kept for the Connection API."""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Listener:
    """Accepts in-process Clients; the address is the listener's own queue."""

    def __init__(self, address: Any = None, family: str | None = None, backlog: int = 1) -> None:
        self._backlog_queue: queue.Queue[Any] | None = queue.Queue(backlog)

    def accept(self) -> Connection:
        """Wait for a ``Client(listener.address)`` and return this side's Connection."""
        if self._backlog_queue is None:
            raise OSError("listener is closed")
        return Connection(*self._backlog_queue.get())

    def close(self) -> None:
        """Accept no more clients."""
        self._backlog_queue = None

    @property
    def address(self) -> queue.Queue[Any] | None:
        """What a Client connects to (None once closed)."""
        return self._backlog_queue

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def Client(address: queue.Queue[Any]) -> Connection:  # noqa: N802 - stdlib name
    """Connect to the Listener whose ``address`` this is."""
    to_server: queue.Queue[Any] = queue.Queue()
    to_client: queue.Queue[Any] = queue.Queue()
    address.put((to_server, to_client))
    return Connection(to_client, to_server)


def Pipe(duplex: bool = True) -> tuple[Connection, Connection]:  # noqa: N802 - stdlib name
    """Two connected in-process Connections (always two-way)."""
    a: queue.Queue[Any] = queue.Queue()
    b: queue.Queue[Any] = queue.Queue()
    return Connection(a, b), Connection(b, a)
