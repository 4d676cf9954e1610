"""The arena heap behind sharedctypes: small blocks carved out of shared memory.

Creating a segment per ``Value`` would cost a file descriptor and a mapping each,
so values live in *arenas*: larger shared mappings that the heap splits into
blocks, best fit, merging a freed block with its free neighbours::

    Heap ── arenas ── [ used | free ......... | used | free ]   one memfd each
     │                   ▲
     │                   └── BufferWrapper(size): one block, freed when collected
     └── free blocks by length (best fit), by (arena, start) and (arena, stop)

An arena is a memfd (an anonymous file, never visible in ``/dev/shm``; elsewhere a
temp file unlinked at once) mapped shared. How children see it:

* fork: the mapping is inherited with the rest of memory;
* spawn, forkserver: an arena is pickled as its fd (``DupFd``: handed over by the
  launcher while a child is being started, by the fd sharer otherwise) and a key;
  the child maps it once per key, however many objects of that arena it receives.

Nothing outlives the program: an arena has no name, and its memory is gone once the
last process that maps it has closed it. An arena whose blocks are all free is
discarded at once (unmapped, fd closed), unless it is no larger than
``_DISCARD_FREE_SPACE_LARGER_THAN``, so dropping every shared value gives the
memory and descriptors back rather than keeping a pool.

Each process has its own heap state: a forked child starts with an empty heap (it
must not hand out blocks of the parent's arenas, which the parent hands out too),
and frees only blocks it allocated (``Finalize`` runs in the creating process only).
A block freed by the garbage collector while this thread is inside ``malloc`` is
queued and freed on the next heap call, never in the middle of one.
"""

from __future__ import annotations

import bisect
import mmap
import os
import sys
import threading
import weakref
from _thread import get_ident

from .._runtime.finalize import Finalize
from .._runtime.state import register_after_fork

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Block = tuple["Arena", int, int]

__all__ = ["Arena", "Heap", "BufferWrapper"]

_MAP_KWARGS: dict[str, Any] = {"trackfd": False} if sys.version_info >= (3, 13) else {}
_PUBLIC_MODULE = "mproc.heap"


def _anonymous_file(size: int) -> int:
    """An fd for ``size`` bytes of shared memory that no name refers to."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("mproc-heap", os.MFD_CLOEXEC)
    else:  # pragma: no cover - non-Linux
        import tempfile

        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, path = tempfile.mkstemp(prefix=f"mproc-heap-{os.getpid()}-", dir=folder)
        os.unlink(path)
    try:
        os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


# Arenas mapped in this process, by key: an arena received twice is mapped once.
# Keys are random, not (pid, serial): pids are reused, and a long-lived process may
# receive arenas from two processes that had the same pid.
_by_key: weakref.WeakValueDictionary[bytes, Arena] = weakref.WeakValueDictionary()


class Arena:
    """One shared mapping of ``size`` bytes, backed by the file descriptor ``fd``.

    ``Arena(size)`` makes a new one; ``Arena(size, fd, key=...)`` maps a received fd
    (and owns it from then on).
    """

    def __init__(self, size: int, fd: int = -1, *, key: bytes | None = None) -> None:
        if fd == -1:
            fd = _anonymous_file(size)
        self.size = size
        self.fd = fd
        self._key = key if key is not None else os.urandom(8)
        try:
            self.buffer = mmap.mmap(fd, size, **_MAP_KWARGS)
        except BaseException:
            os.close(fd)
            raise
        self._closer = Finalize(self, _close_fd, args=(fd,))
        _by_key[self._key] = self

    def close(self) -> None:
        """Unmap (once no view of the memory is left) and close the fd."""
        if _by_key.get(self._key) is self:
            del _by_key[self._key]
        self._closer()
        self.fd = -1
        try:
            self.buffer.close()
        except BufferError:
            pass  # a view outlived its block; the mapping goes when the view does

    def __reduce__(self) -> tuple[Any, ...]:
        if self.fd < 0:
            raise ValueError("this arena has been discarded and cannot be shared")
        from .._serialize.fds import DupFd

        return (_rebuild_arena, (self.size, DupFd(self.fd), self._key))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={self.size} fd={self.fd} key={self._key.hex()}>"


def _rebuild_arena(size: int, dupfd: Any, key: bytes) -> Arena:
    fd = dupfd.detach()
    arena = _by_key.get(key)
    if arena is not None and arena.fd >= 0:
        if fd != arena.fd:
            _close_fd(fd)  # another copy of an fd this process already maps
        return arena
    return Arena(size, fd, key=key)


def _roundup(n: int, alignment: int) -> int:
    return (n + alignment - 1) & ~(alignment - 1)


class Heap:
    """Allocates blocks ``(arena, start, stop)`` from arenas it creates on demand."""

    _alignment = 16  # enough for any ctypes type, long double included
    # An arena whose blocks are all free is discarded if larger than this.
    _DISCARD_FREE_SPACE_LARGER_THAN = 0
    # New arenas double in size (fewer fds and mappings) up to this.
    _DOUBLE_ARENA_SIZE_UNTIL = 4 * 1024 * 1024

    def __init__(self, size: int = mmap.PAGESIZE) -> None:
        self._initial_size = size
        self._reset()
        register_after_fork(self, Heap._reset)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._owner: int | None = None  # thread inside malloc/free, for gc re-entry
        self._size = self._initial_size
        self._arenas: list[Arena] = []
        self._lengths: list[int] = []  # sorted lengths of free blocks
        self._len_to_seq: dict[int, list[Block]] = {}
        self._start_to_block: dict[tuple[Arena, int], Block] = {}
        self._stop_to_block: dict[tuple[Arena, int], Block] = {}
        self._allocated_blocks: dict[Arena, set[tuple[int, int]]] = {}
        self._pending_free_blocks: list[Block] = []
        self._n_mallocs = 0
        self._n_frees = 0

    # -- public ---------------------------------------------------------------

    def malloc(self, size: int) -> Block:
        """A block of at least ``size`` bytes (its memory is not cleared)."""
        if size < 0:
            raise ValueError(f"Size {size:n} out of range")
        if sys.maxsize <= size:
            raise OverflowError(f"Size {size:n} too large")
        if os.getpid() != self._pid:
            self._reset()  # forked without the after-fork hooks running
        with self._lock:
            self._owner = get_ident()
            try:
                self._n_mallocs += 1
                self._free_pending()
                return self._malloc(_roundup(max(size, 1), self._alignment))
            finally:
                self._owner = None

    def free(self, block: Block) -> None:
        """Give ``block`` back; safe to call from a garbage-collector callback."""
        if os.getpid() != self._pid:
            return  # a block of the parent's heap: the parent frees it
        if not self._lock.acquire(False):
            owner = self._owner
            if owner is None or owner == get_ident():
                # Re-entered from inside malloc/free (the gc ran a finalizer), or the
                # lock is held from outside: never wait on ourselves, queue it.
                self._pending_free_blocks.append(block)
                return
            self._lock.acquire()
        self._owner = get_ident()
        try:
            self._free_pending()
            self._free(block)
        finally:
            self._owner = None
            self._lock.release()

    # -- internals (called with the lock held) --------------------------------

    def _malloc(self, length: int) -> Block:
        arena, start, stop = self._take(length)
        end = start + length
        if end < stop:
            self._add_free_block((arena, end, stop))
        self._allocated_blocks.setdefault(arena, set()).add((start, end))
        return (arena, start, end)

    def _take(self, length: int) -> Block:
        """The smallest free block of at least ``length`` bytes, or a new arena."""
        i = bisect.bisect_left(self._lengths, length)
        if i == len(self._lengths):
            return self._new_arena(length)
        block = self._len_to_seq[self._lengths[i]][-1]
        self._remove_free_block(block)
        return block

    def _new_arena(self, length: int) -> Block:
        size = _roundup(max(self._size, length), mmap.PAGESIZE)
        if self._size < self._DOUBLE_ARENA_SIZE_UNTIL:
            self._size *= 2
        arena = Arena(size)
        self._arenas.append(arena)
        return (arena, 0, size)

    def _add_free_block(self, block: Block) -> Block:
        """Record ``block`` as free, merged with free neighbours; return the result."""
        arena, start, stop = block
        before = self._stop_to_block.get((arena, start))
        if before is not None:
            self._remove_free_block(before)
            start = before[1]
        after = self._start_to_block.get((arena, stop))
        if after is not None:
            self._remove_free_block(after)
            stop = after[2]
        merged = (arena, start, stop)
        length = stop - start
        seq = self._len_to_seq.get(length)
        if seq is None:
            seq = self._len_to_seq[length] = []
            bisect.insort(self._lengths, length)
        seq.append(merged)
        self._start_to_block[(arena, start)] = merged
        self._stop_to_block[(arena, stop)] = merged
        return merged

    def _remove_free_block(self, block: Block) -> None:
        arena, start, stop = block
        length = stop - start
        seq = self._len_to_seq[length]
        seq.remove(block)
        if not seq:
            del self._len_to_seq[length]
            del self._lengths[bisect.bisect_left(self._lengths, length)]
        del self._start_to_block[(arena, start)]
        del self._stop_to_block[(arena, stop)]

    def _free(self, block: Block) -> None:
        arena, start, stop = block
        self._n_frees += 1
        used = self._allocated_blocks[arena]
        used.remove((start, stop))
        merged = self._add_free_block(block)
        if not used:
            del self._allocated_blocks[arena]
            if arena.size > self._DISCARD_FREE_SPACE_LARGER_THAN:
                self._remove_free_block(merged)
                self._arenas.remove(arena)
                arena.close()

    def _free_pending(self) -> None:
        pending = self._pending_free_blocks
        while pending:
            self._free(pending.pop())


class BufferWrapper:
    """One block of the shared heap, freed when this object is collected.

    Pickled for a child, it carries its arena (see the module docstring); the
    child's copy never frees the block, the creator's does.
    """

    _heap = Heap()

    def __init__(self, size: int) -> None:
        heap = BufferWrapper._heap
        block = heap.malloc(size)
        self._state = (block, size)
        Finalize(self, heap.free, args=(block,))

    def create_memoryview(self) -> memoryview:
        """A writable view of exactly the requested bytes of the block."""
        (arena, start, _stop), size = self._state
        return memoryview(arena.buffer)[start:start + size]


# Pickles and tracebacks name the public module.
Arena.__module__ = Heap.__module__ = BufferWrapper.__module__ = _PUBLIC_MODULE
