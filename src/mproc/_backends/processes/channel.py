"""The parent's ends of a worker's pipes: framed I/O that never blocks.

The supervisor thread serves every worker at once, so it must never wait on any
one of them. Both ends here are non-blocking:

* ``FrameReader`` reads whatever a worker's result pipe holds and returns the
  complete frames; a frame cut short by the worker's death stays incomplete and is
  dropped with the worker. Nothing depends on EOF, which a forked sibling holding a
  copy of the write end could delay for ever.
* ``FrameWriter`` writes task frames as far as the pipe takes them and keeps the
  rest; the supervisor finishes the write when the pipe becomes writable. So a
  large argument sent to a busy worker cannot stall the parent, and the classic
  deadlock (parent blocked writing a task, worker blocked writing a result) cannot
  happen.

The framing is the Connection's, so the worker reads and writes with ordinary
blocking calls.
"""

from __future__ import annotations

import collections
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FrameReader", "FrameWriter"]

_HEADER = struct.Struct("!I")
_LONG = struct.Struct("!Q")
_LONG_MARK = 0xFFFFFFFF
_CHUNK = 256 * 1024
_IOV_MAX = 512


class FrameReader:
    """Non-blocking reads of Connection frames from one fd."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.eof = False
        self._buf = bytearray()
        self._big: bytearray | None = None  # a large frame being read in place
        self._big_got = 0

    def read(self) -> list[Any]:
        """All complete frames available now (bytes or bytearray each)."""
        frames: list[Any] = []
        while not self.eof:
            if self._big is not None:
                if not self._read_big(frames):
                    break
                continue
            try:
                chunk = os.read(self.fd, _CHUNK)
            except BlockingIOError:
                break
            except OSError:
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            self._buf += chunk
            self._parse(frames)
            if len(chunk) < _CHUNK:
                break  # most likely drained; the next poll says if not
        return frames

    def _parse(self, frames: list[Any]) -> None:
        buf = self._buf
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (size,) = _HEADER.unpack_from(buf, pos)
            head = 4
            if size == _LONG_MARK:
                if end - pos < 12:
                    break
                (size,) = _LONG.unpack_from(buf, pos + 4)
                head = 12
            if end - pos - head >= size:
                start = pos + head
                frames.append(bytes(buf[start:start + size]))
                pos = start + size
                continue
            if size > _CHUNK:
                # Large: continue straight into a buffer of the final size.
                big = bytearray(size)
                have = end - pos - head
                big[:have] = buf[pos + head:end]
                self._big, self._big_got = big, have
                pos = end
            break
        if pos:
            del buf[:pos]

    def _read_big(self, frames: list[Any]) -> bool:
        big = self._big
        assert big is not None
        try:
            n = os.readv(self.fd, [memoryview(big)[self._big_got:]])
        except BlockingIOError:
            return False
        except OSError:
            self.eof = True
            return False
        if not n:
            self.eof = True
            return False
        self._big_got += n
        if self._big_got == len(big):
            frames.append(big)
            self._big = None
        return True


class FrameWriter:
    """Non-blocking writes of frames to one fd; what does not fit waits here."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.broken = False
        self.dropped = 0  # bytes never written because the pipe broke
        self._queue: collections.deque[memoryview] = collections.deque()

    @property
    def pending(self) -> bool:
        """Whether bytes are waiting for the pipe to become writable."""
        return bool(self._queue)

    def send(self, parts: list[Any]) -> None:
        """Write the already framed ``parts``; queue what the pipe does not take."""
        queue = self._queue
        if self.broken:
            return
        if not queue and len(parts) <= _IOV_MAX:
            try:
                written = os.writev(self.fd, parts)
            except BlockingIOError:
                written = 0
            except OSError:
                self.broken = True
                self.dropped += sum(len(part) for part in parts)
                return
            for part in parts:
                size = len(part)
                if written >= size:
                    written -= size
                    continue
                view = memoryview(part).cast("B")
                queue.append(view[written:] if written else view)
                written = 0
            return
        for part in parts:
            if len(part):
                queue.append(memoryview(part).cast("B"))
        self.flush()

    def queue(self, parts: list[Any]) -> None:
        """Queue ``parts`` without writing (someone calls ``flush`` soon)."""
        if self.broken:
            self.dropped += sum(len(part) for part in parts)
            return
        for part in parts:
            self._queue.append(memoryview(part).cast("B"))

    def unread(self) -> int:
        """Bytes sent to this writer that the reader has not read: still queued
        here, dropped, or waiting in the pipe (FIONREAD works on the write end)."""
        count = self.dropped + sum(len(view) for view in self._queue)
        try:
            import array
            import fcntl
            import termios

            size = array.array("i", [0])
            fcntl.ioctl(self.fd, termios.FIONREAD, size, True)
            count += size[0]
        except (ImportError, OSError):
            pass
        return count

    def flush(self) -> bool:
        """Write queued bytes until done or the pipe is full; True when empty."""
        queue = self._queue
        while queue and not self.broken:
            batch = list(queue) if len(queue) <= _IOV_MAX else [queue[i] for i in range(_IOV_MAX)]
            try:
                written = os.writev(self.fd, batch)
            except BlockingIOError:
                return False
            except OSError:
                self.broken = True  # the worker is gone; its sentinel will say so
                self.dropped += sum(len(view) for view in queue)
                queue.clear()
                return True
            while written:
                head = queue[0]
                if written >= len(head):
                    written -= len(head)
                    queue.popleft()
                else:
                    queue[0] = head[written:]
                    written = 0
        return not queue
