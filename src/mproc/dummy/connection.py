"""In-process connections for ``mproc.dummy``: queues that look like Connections."""

from __future__ import annotations

import queue
from typing import Any

__all__ = ["Client", "Listener", "Pipe"]

_families = ["AF_INET"]
families = _families


class Connection:
    """One end of a pair of queues, with the Connection API."""

    def __init__(self, inbox: queue.Queue[Any], outbox: queue.Queue[Any]) -> None:
        self._in = inbox
        self._out = outbox
        self.send = self.send_bytes = outbox.put
        self.recv = self.recv_bytes = inbox.get

    def poll(self, timeout: float | None = 0.0) -> bool:
        if self._in.qsize() > 0:
            return True
        if timeout is not None and timeout <= 0.0:
            return False
        with self._in.not_empty:
            self._in.not_empty.wait(timeout)
        return self._in.qsize() > 0

    def close(self) -> None:
        pass

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Listener:
    """Accepts in-process Clients; the address is the listener's own queue."""

    def __init__(self, address: Any = None, family: str | None = None, backlog: int = 1) -> None:
        self._backlog_queue: queue.Queue[Any] | None = queue.Queue(backlog)

    def accept(self) -> Connection:
        if self._backlog_queue is None:
            raise OSError("listener is closed")
        return Connection(*self._backlog_queue.get())

    def close(self) -> None:
        self._backlog_queue = None

    @property
    def address(self) -> queue.Queue[Any] | None:
        return self._backlog_queue

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def Client(address: queue.Queue[Any]) -> Connection:  # noqa: N802 - stdlib name
    to_server: queue.Queue[Any] = queue.Queue()
    to_client: queue.Queue[Any] = queue.Queue()
    address.put((to_server, to_client))
    return Connection(to_client, to_server)


def Pipe(duplex: bool = True) -> tuple[Connection, Connection]:  # noqa: N802 - stdlib name
    a: queue.Queue[Any] = queue.Queue()
    b: queue.Queue[Any] = queue.Queue()
    return Connection(a, b), Connection(b, a)
