"""Packet pipes: the two channels a queue's messages travel through.

A queue needs many writers and many readers on one channel without a lock on
either side, so that a process killed at any instant cannot leave the channel
half-written or half-read. That requires *packets*: a write of up to
``PACKET_MAX`` bytes lands whole or not at all, and a read returns exactly one
packet, never part of one and never two.

* On Linux a pipe opened with ``O_DIRECT`` is in packet mode and gives exactly
  that, at the cost of a plain pipe (a write+read pair is about a third of a Unix
  socket's). Each packet occupies one page slot, so the pipe is grown to hold more.
* Elsewhere a ``SOCK_DGRAM`` Unix socketpair does the same job, more slowly, with
  a smaller ``PACKET_MAX``.

Both ends are non-blocking for every process that shares them (the flag lives on
the shared open file): a full channel is ``BlockingIOError`` on write, an empty one
on read. Waiting is done with ``epoll`` and exclusive wakeups, so a packet wakes
one of the consumers waiting for it, not all of them. Whatever does not fit in a packet goes
to the queue's store (``store.py``); the packet then only says where it is.

Each queue has two channels: *main*, for items, and *overflow*, which receives only
the notices of items a process had to set aside because main was full when it
exited (see ``feeding.py``).
"""

from __future__ import annotations

import os
import select

from .._serialize.fds import DupFd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PACKET_MAX", "PACKET_PIPES", "Pipes", "packet_channel", "wait_readable",
           "wait_writable", "write_blocking", "read_or_none", "readable_now"]

_F_SETPIPE_SZ = 1031
_MAIN_CAPACITY = 1 << 20  # 256 packet slots
_OVERFLOW_CAPACITY = 1 << 18  # 64 slots: one per process that set items aside
_SOCKET_BUFFER = 4 << 20


def _try_packet_pipe() -> bool:
    flag = getattr(os, "O_DIRECT", 0)
    if not flag or not hasattr(os, "pipe2"):
        return False
    try:
        r, w = os.pipe2(flag)
    except OSError:
        return False
    os.close(r)
    os.close(w)
    return True


PACKET_PIPES = _try_packet_pipe()
# PIPE_BUF is the atomic unit of packet-mode pipes; datagrams elsewhere are kept
# small enough for the default Unix datagram limits.
PACKET_MAX = select.PIPE_BUF if PACKET_PIPES else 2048


def _grow_pipe(fd: int, size: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), size)
    except (OSError, ImportError, ValueError):
        pass  # over the per-user pipe budget: a smaller pipe still works


def packet_channel(capacity: int) -> tuple[int, int]:
    """A new packet channel: ``(read_fd, write_fd)``, both non-blocking and CLOEXEC."""
    if PACKET_PIPES:
        r, w = os.pipe2(os.O_DIRECT | os.O_NONBLOCK | os.O_CLOEXEC)
        _grow_pipe(w, capacity)
        return r, w
    import socket

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for sock in (a, b):
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
        except OSError:
            pass
    return a.detach(), b.detach()


def read_or_none(fd: int) -> bytes | None:
    """One packet from ``fd``, or None if there is none right now."""
    try:
        data = os.read(fd, PACKET_MAX)
    except BlockingIOError:
        return None
    if not data:
        raise OSError("the queue's channel was closed")
    return data


def _poll(fds: tuple[int, ...], events: int, timeout: float | None) -> list[Any]:
    poller = select.poll()
    for fd in fds:
        poller.register(fd, events)
    ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
    return poller.poll(ms)


def wait_readable(fds: tuple[int, ...], timeout: float | None) -> bool:
    """Wait until one of ``fds`` may have a packet (or ``timeout`` seconds pass)."""
    return bool(_poll(fds, select.POLLIN, timeout))


def readable_now(fds: tuple[int, ...]) -> bool:
    return bool(_poll(fds, select.POLLIN, 0))


def wait_writable(fd: int, timeout: float | None) -> bool:
    return bool(_poll((fd,), select.POLLOUT, timeout))


def write_blocking(fd: int, packet: bytes) -> None:
    """Write one packet, waiting for room as long as it takes."""
    while True:
        try:
            os.write(fd, packet)
            return
        except BlockingIOError:
            wait_writable(fd, None)


def _exclusive_epoll(fds: tuple[int, ...], events: int = select.POLLIN) -> Any:
    """An epoll set on ``fds`` with exclusive wakeups, or False where unsupported."""
    flag = getattr(select, "EPOLLEXCLUSIVE", 0)
    if not flag or not hasattr(select, "epoll"):
        return False
    epoll = select.epoll()
    try:
        for fd in fds:
            epoll.register(fd, events | flag)
    except OSError:  # a kernel older than 4.5
        epoll.close()
        return False
    return epoll


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class Pipes:
    """This process's ends of a queue's two channels.

    The fds are plain ints read on every operation; ``close`` sets them to -1
    first, so a racing operation fails with EBADF rather than touching whatever
    file reuses the number.
    """

    __slots__ = ("main_r", "main_w", "over_r", "over_w", "_epoll", "__weakref__")

    def __init__(self, main_r: int, main_w: int, over_r: int, over_w: int) -> None:
        self.main_r = main_r
        self.main_w = main_w
        self.over_r = over_r
        self.over_w = over_w
        self._epoll: Any = None  # consumers' exclusive wait set (None: not made yet)

    @classmethod
    def create(cls) -> Pipes:
        main_r, main_w = packet_channel(_MAIN_CAPACITY)
        try:
            over_r, over_w = packet_channel(_OVERFLOW_CAPACITY)
        except BaseException:
            _close_fd(main_r)
            _close_fd(main_w)
            raise
        return cls(main_r, main_w, over_r, over_w)

    @property
    def closed(self) -> bool:
        return self.main_r < 0

    def close(self) -> None:
        fds = (self.main_r, self.main_w, self.over_r, self.over_w)
        self.main_r = self.main_w = self.over_r = self.over_w = -1
        epoll, self._epoll = self._epoll, None
        if epoll:
            epoll.close()
        for fd in fds:
            if fd >= 0:
                _close_fd(fd)

    def wait_readable(self, timeout: float | None) -> bool:
        """Wait until main or overflow may have a packet (or ``timeout`` passes).

        Many consumers of one queue all sleep here. With plain ``poll`` every packet
        would wake every one of them, and all but one would find nothing (a herd:
        on a small machine that costs more than the message). ``EPOLLEXCLUSIVE``
        makes the kernel wake one waiter per packet.
        """
        epoll = self._epoll
        if epoll is None:
            epoll = self._epoll = _exclusive_epoll(self.readers(), select.EPOLLIN)
            if epoll is False:
                return wait_readable(self.readers(), timeout)
        elif epoll is False:
            return wait_readable(self.readers(), timeout)
        return bool(epoll.poll(-1 if timeout is None else max(timeout, 0.0), 2))

    def wait_writable(self, timeout: float | None) -> bool:
        """Wait until main may have room. (Producers are few and wait only when
        main is full; exclusive wakeups measured no better here.)"""
        return wait_writable(self.main_w, timeout)

    def __del__(self) -> None:
        if max(getattr(self, name, -1) for name in ("main_r", "main_w", "over_r", "over_w")) >= 0:
            self.close()

    def readers(self) -> tuple[int, int]:
        return (self.main_r, self.over_r)

    def __reduce__(self) -> Any:
        if self.closed:
            raise OSError("cannot share a closed queue")
        return _rebuild_pipes, (DupFd(self.main_r), DupFd(self.main_w),
                                DupFd(self.over_r), DupFd(self.over_w))


def _rebuild_pipes(*dupfds: Any) -> Pipes:
    return Pipes(*(d.detach() for d in dupfds))
