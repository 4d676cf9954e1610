"""The store: shared memory for what does not fit in a packet.

Each queue owns one anonymous file (a memfd on Linux: never visible in
``/dev/shm``, not limited by its size, freed by the kernel when the last process
holding the queue closes it). Large pickles and out-of-band buffers are written
into a *region* of that file with one ``pwritev``; the packet sent through the
channel says where. The file is sparse and enormous: every writer process owns a
*window* of 64 GiB at ``slot * 2**36`` where ``slot`` comes from its pid, so
writers allocate without talking to each other, and the kernel is the allocation
map: ``SEEK_DATA``/``SEEK_HOLE`` say which ranges are in use. A window left
behind by a dead process with the same pid is simply allocated around.

Freeing is punching a hole (``MADV_REMOVE``), which returns the memory at once.
Fresh pages are expensive though (allocating and freeing 10 MB costs more than
copying it), so a writer keeps track of its big regions and reuses one as soon as
its reader is done with it. One word at the start of a region, written by readers
only, says how far reading got; a POSIX lock that the writer holds on the first
byte of its window says whether the writer is still alive (the kernel drops it
when the process dies, however it dies)::

    reader of a big region:                  writer, wanting a big region:
      R := READING; read the data              oldest tracked region has R == KEPT?
      writer alive?  R := KEPT                   reuse it (no allocation, no punch)
      writer gone?   punch                     otherwise a fresh one; idle ones
                                               beyond a few are punched
    writer, exiting: unlock, then punch every tracked region with R == KEPT;
                     readers punch the rest (they see the writer gone)

READING carries the reader's pid, so a writer does not wait for (or keep) a
region whose reader was killed. Small regions and spilled batches are not tracked:
the reader punches them directly. Whatever a killed process still held (a region
half written, an item taken but not read) stays allocated until every process has
closed the queue's file, never longer: nothing is named, nothing can outlive the
processes.
"""

from __future__ import annotations

import collections
import mmap
import os
import struct
import sys
import threading
import time
import weakref

from .._runtime.finalize import Finalize
from .._serialize.fds import DupFd
from .regions import RegionMaps, copy_in

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Store", "HEADER", "PAGE", "align"]

PAGE = mmap.ALLOCATIONGRANULARITY
HEADER = 64  # state words at the start of every region; data follows
WINDOW_SHIFT = 36  # 64 GiB per writer window
WINDOW = 1 << WINDOW_SHIFT
PID_SPAN = 1 << 22  # Linux's largest pid_max
SLOTS_PER_PID = 1 << (63 - WINDOW_SHIFT - 22)
CACHE_MIN = 1 << 20  # regions this big are kept for reuse
CACHE_SLOTS = 4
IOV_MAX = 1024

_SCAN = 8  # tracked regions looked at for reuse, oldest first
_REUSE_WAIT = 0.005  # seconds a writer waits for a region being read
READING, KEPT = 1, 3
_WORD = struct.Struct("<Q")
_KEPT = _WORD.pack(KEPT)

_HAVE_SEEK_DATA = hasattr(os, "SEEK_DATA") and sys.platform.startswith("linux")
_MADV_REMOVE = getattr(mmap, "MADV_REMOVE", None)
_MAP_KW: dict[str, Any] = {"trackfd": False} if sys.version_info >= (3, 13) else {}


def _alive(pid: int) -> bool:
    """Whether a reader that marked a region READING may still finish with it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        pass
    return True


def align(n: int, to: int = PAGE) -> int:
    return (n + to - 1) & ~(to - 1)


def _anonymous_file() -> int:
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("mproc-queue", os.MFD_CLOEXEC)
        except OSError:  # forbidden (seccomp) or too old a kernel: a temp file
            pass
    import tempfile

    fd, path = tempfile.mkstemp(prefix="mproc-queue-")
    os.unlink(path)
    return fd


class Store:
    """One queue's shared file, as seen by this process (writer and reader sides)."""

    __slots__ = ("fd", "_ino", "_lock", "_pid", "_slot", "_cursor", "_inflight", "_tracked",
                 "_stuck", "_windows", "_maps", "__weakref__")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._ino = os.fstat(fd).st_ino
        self._lock = threading.Lock()
        self._maps = RegionMaps()  # big regions, mapped while they are reused
        self._forget()

    def _forget(self) -> None:
        """Drop writer state: a fresh process starts with no window and no regions."""
        self._pid = -1
        self._slot = 0
        self._cursor = 0
        self._inflight: dict[int, int] = {}  # window offset -> capacity, not yet written
        self._tracked: collections.deque[tuple[int, int]] = collections.deque()
        self._stuck: set[int] = set()  # tracked regions a reader sat on too long
        self._windows: set[int] = set()  # bases of the windows this process writes in

    @classmethod
    def create(cls) -> Store:
        return cls(_anonymous_file())

    def after_fork(self) -> None:
        # The parent's regions are the parent's: forget them (never touch them).
        self._lock = threading.Lock()
        self._forget()

    def close(self) -> None:
        self._maps.close()
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        if getattr(self, "fd", -1) >= 0:
            if self._tracked:
                self.drop_cache(wait=0)
            self.close()

    def __reduce__(self) -> Any:
        if self.fd < 0:
            raise OSError("cannot share a closed queue")
        return _rebuild_store, (DupFd(self.fd),)

    # -- writer side ---------------------------------------------------------

    def reserve(self, size: int, cache: bool = True) -> tuple[int, int, bool]:
        """A region for ``size`` bytes after the header: ``(offset, capacity, tracked)``.

        Tracked regions are big ones this writer reuses once read; the others are
        punched by their reader.
        """
        capacity = align(HEADER + size)
        cache = cache and capacity >= CACHE_MIN
        with self._lock:
            if self._pid != os.getpid():
                self._forget()
                self._pid = os.getpid()
            self._claim()
            if cache:
                reused = self._reuse(capacity)
                if reused is not None:
                    return reused
            while True:
                pos = self._find(self._cursor, capacity)
                if pos is not None:
                    break
                self._slot += 1
                self._cursor = 0
                self._claim()
            self._cursor = pos + capacity
            self._inflight[pos] = capacity
            return self._base() + pos, capacity, cache

    def _base(self) -> int:
        return ((self._pid % PID_SPAN) + self._slot * PID_SPAN) << WINDOW_SHIFT

    def _claim(self) -> None:
        """Hold the lock that tells readers this window's writer is alive (taken
        again on every reservation: closing any fd of the file drops it)."""
        import fcntl

        while True:
            if self._slot >= SLOTS_PER_PID:
                raise MemoryError("the queue's store has no free window for this process")
            base = self._base()
            key = (self._ino, base)
            owner = _window_owners.get(key)
            if owner is not None and owner is not self:
                # Another object of this process writes to the same queue here (a
                # queue unpickled twice): POSIX locks cannot tell us apart.
                self._slot += 1
                self._cursor = 0
                continue
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, base)
            except OSError:  # another live process owns this window
                self._slot += 1
                self._cursor = 0
                continue
            _window_owners[key] = self
            self._windows.add(base)
            return

    def _find(self, start: int, size: int) -> int | None:
        """First free run of ``size`` bytes in our window at or after ``start``,
        wrapping around once; None if the window has no such run."""
        pos, wrapped = start, False
        while True:
            if pos + size > WINDOW:
                if wrapped:
                    return None
                wrapped, pos = True, 0
                continue
            if wrapped and pos >= start:
                return None
            busy_end = self._busy_until(pos, size)
            if busy_end is None:
                return pos
            pos = align(busy_end)

    def _busy_until(self, pos: int, size: int) -> int | None:
        """None if [pos, pos+size) is free, else where the blocking use ends."""
        for off, cap in self._inflight.items():
            if off < pos + size and pos < off + cap:
                return off + cap
        if not _HAVE_SEEK_DATA:
            return None
        base = self._base()
        try:
            data = os.lseek(self.fd, base + pos, os.SEEK_DATA) - base
        except OSError:  # ENXIO: no data after pos
            return None
        if data >= pos + size:
            return None
        return os.lseek(self.fd, base + data, os.SEEK_HOLE) - base

    def _reuse(self, capacity: int) -> tuple[int, int, bool] | None:
        """A tracked region its reader is done with, big enough and not wasteful.

        When the oldest one is being read right now, waiting a little for it is
        much cheaper than fresh pages (readers take regions in order).
        """
        tracked = self._tracked
        deadline = None
        while True:
            reading = False
            for i in range(min(len(tracked), _SCAN)):
                off, cap = tracked[i]
                if capacity <= cap <= 4 * capacity:
                    state = self._word(off)
                    if state == KEPT:
                        del tracked[i]
                        self._stuck.discard(off)
                        self._inflight[off - self._base()] = cap
                        return off, cap, True
                    reading = reading or (state == READING and off not in self._stuck)
            if not reading:
                return None
            now = time.monotonic()
            if deadline is None:
                deadline = now + _REUSE_WAIT
            elif now > deadline:
                # A slow (or stopped) reader: do not wait for these again.
                self._stuck.update(off for off, _ in list(tracked)[:_SCAN])
                return None
            time.sleep(0.0002)

    def write(self, offset: int, parts: list[Any], capacity: int = 0) -> None:
        """Write ``parts`` (bytes-like) contiguously at ``offset``; a tracked region
        (``capacity`` given) is written through its mapping."""
        if capacity:
            view = self._maps.view(self.fd, offset, capacity, grow=True)
            if view is not None:
                copy_in(view, parts)
                return
        fd = self.fd
        while parts:
            chunk = parts[:IOV_MAX]
            n = os.pwritev(fd, chunk, offset)
            total = sum(memoryview(p).nbytes for p in chunk)
            offset += n
            if n == total:
                parts = parts[IOV_MAX:]
                continue
            # Partial write (over 2 GiB in one call): skip what went out, retry.
            rest: list[Any] = []
            for p in chunk:
                view = memoryview(p).cast("B")
                if n >= len(view):
                    n -= len(view)
                    continue
                rest.append(view[n:])
                n = 0
            parts = rest + parts[IOV_MAX:]

    def published(self, offset: int, capacity: int, tracked: bool) -> None:
        """The region at ``offset`` is written; a reader will own it."""
        with self._lock:
            if self._pid != os.getpid():
                return
            self._inflight.pop(offset - self._base(), None)
            if tracked:
                if not self._tracked:
                    _track_for_exit(self)
                self._tracked.append((offset, capacity))
                self._trim()

    def _trim(self) -> None:
        """Punch idle regions beyond the few kept for reuse, oldest first, passing
        over those still unread or being read."""
        tracked = self._tracked
        excess = len(tracked) - CACHE_SLOTS
        kept: list[tuple[int, int]] = []
        looked = 0
        while tracked and excess > 0 and looked < 2 * _SCAN:
            off, cap = tracked.popleft()
            looked += 1
            state = self._word(off)
            if state == KEPT:
                self.punch(off, cap)
            elif not (state == 0 and self._is_hole(off)):  # else a reader punched it
                kept.append((off, cap))
                continue
            self._stuck.discard(off)
            excess -= 1
        tracked.extendleft(reversed(kept))

    def _is_hole(self, offset: int) -> bool:
        if not _HAVE_SEEK_DATA:
            return False
        try:
            return os.lseek(self.fd, offset, os.SEEK_DATA) >= offset + PAGE
        except OSError:
            return True

    def abandon(self, offset: int, capacity: int) -> None:
        """The region will never be announced (its put failed): free it now."""
        with self._lock:
            if self._pid == os.getpid():
                self._inflight.pop(offset - self._base(), None)
                try:
                    self._tracked.remove((offset, capacity))
                except ValueError:
                    pass
        self.punch(offset, capacity)

    def drop_cache(self, wait: float = 0.05) -> None:
        """The writer is going away: let readers know, and free what they are done
        with (waiting up to ``wait`` seconds for reads that are under way)."""
        import fcntl

        with self._lock:
            if self._pid != os.getpid() or self.fd < 0:
                return
            for base in self._windows:
                if _window_owners.get((self._ino, base)) is self:
                    del _window_owners[(self._ino, base)]
                try:
                    fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, base)
                except OSError:
                    pass
            self._windows.clear()
            tracked, self._tracked = self._tracked, collections.deque()
            self._pid = -1  # a later put claims the window again
            deadline = time.monotonic() + wait
            while tracked:
                reading: collections.deque[tuple[int, int]] = collections.deque()
                for off, cap in tracked:
                    state = self._word(off)
                    if state == KEPT:
                        self.punch(off, cap)
                    elif state == READING:
                        reading.append((off, cap))
                    # 0: unread; its reader sees us gone and punches it
                tracked = reading
                if tracked:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.001)

    def _word(self, offset: int) -> int:
        """The region's reader state; a reader that died mid-read counts as done.

        Read with ``pread``, never through a mapping: a read fault on a punched
        region would allocate its first page again (``pread`` of a hole does not).
        """
        data = os.pread(self.fd, 8, offset)
        word = _WORD.unpack(data)[0] if len(data) == 8 else 0
        state = word & 0xFF
        if state == READING and not _alive(word >> 8):
            return KEPT
        return state

    def _writer_alive(self, offset: int) -> bool:
        import fcntl

        base = offset & ~(WINDOW - 1)
        owner = _window_owners.get((self._ino, base))
        if owner is not None and owner._pid == os.getpid():
            return True  # written by this process (never test our own lock: see below)
        # Taking and dropping a shared lock succeeds only if nobody holds the
        # writer's. (Within one process POSIX locks never conflict, and unlocking
        # would drop our own writer lock: hence the check above.)
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, base)
        except OSError:
            return True  # held: the writer is alive
        fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, base)
        return False

    # -- reader side ---------------------------------------------------------

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer only past the end of the file)."""
        data = os.pread(self.fd, size, offset)
        if len(data) >= size or not data:
            return data
        out = bytearray(data)  # a read over 2 GiB comes back in pieces
        while len(out) < size:
            more = os.pread(self.fd, size - len(out), offset + len(out))
            if not more:
                break
            out += more
        return bytes(out)

    def read_into(self, offset: int, buffer: Any) -> None:
        view = memoryview(buffer).cast("B")
        while len(view):
            n = os.preadv(self.fd, [view], offset)
            if n <= 0:
                raise EOFError("a queue item's data is missing from the store")
            view = view[n:]
            offset += n

    def begin(self, offset: int, capacity: int) -> memoryview | None:
        """A reader starts on a tracked region (so its writer knows to wait); returns
        a view of it to copy from (None: use ``read``)."""
        word = READING | os.getpid() << 8
        view = self._maps.view(self.fd, offset, capacity)
        if view is None or not self._maps.set_word(offset, capacity, word):
            os.pwrite(self.fd, _WORD.pack(word), offset)
        return view

    def release(self, offset: int, capacity: int, tracked: bool) -> None:
        """The reader is done with a region: hand it back for reuse, or punch it.
        For tracked regions ``begin`` came first."""
        if self.fd < 0:
            return
        if tracked:
            if self._writer_alive(offset):
                if not self._maps.set_word(offset, capacity, KEPT):
                    os.pwrite(self.fd, _KEPT, offset)
                return
        self.punch(offset, capacity)

    def punch(self, offset: int, length: int) -> None:
        """Free ``[offset, offset+length)`` (page-aligned) back to the system."""
        if _MADV_REMOVE is None or self.fd < 0 or self._maps.punch(offset, length):
            return
        try:
            try:
                m = mmap.mmap(self.fd, length, offset=offset, **_MAP_KW)
            except ValueError:  # the region ends the file, inside its last page
                end = os.fstat(self.fd).st_size
                if end <= offset:
                    return
                m = mmap.mmap(self.fd, min(length, end - offset), offset=offset, **_MAP_KW)
            with m:
                m.madvise(_MADV_REMOVE)
        except (OSError, ValueError):
            pass


_with_regions: weakref.WeakSet[Store] = weakref.WeakSet()
# (file inode, window base) -> the Store object of this process writing there.
_window_owners: weakref.WeakValueDictionary[tuple[int, int], Store] = (
    weakref.WeakValueDictionary())
_exit_pid = -1


def _drop_all_at_exit() -> None:
    for store in list(_with_regions):
        store.drop_cache()


def _track_for_exit(store: Store) -> None:
    """Free the regions this process kept for reuse when it exits (priority 5:
    after queues have set aside their pending items, which may reuse them)."""
    global _exit_pid
    _with_regions.add(store)
    if _exit_pid != os.getpid():
        _exit_pid = os.getpid()
        Finalize(None, _drop_all_at_exit, exitpriority=5)


def _rebuild_store(dupfd: Any) -> Store:
    return Store(dupfd.detach())
