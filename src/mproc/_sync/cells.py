"""Shared int64 cells: small counters that every process of a tree sees.

Locks record their holder in one; Condition, Event and Barrier keep their counters
in a few. Cells come from *pages*: one memfd (an anonymous file, never visible in
``/dev/shm``) of one page, mapped shared. A page is

* inherited by fork children along with the rest of memory;
* handed to spawn and forkserver children as a file descriptor by the launcher
  (``DupFd`` while the child is being started), and mapped again there; a child
  that receives the same page twice (two locks from one page) maps it once.

Cells are handed out in order and never reused: a child may still use a cell after
the creator dropped its object, and a recycled cell would mix two objects' state.
A page lives as long as an object using one of its cells does, so a program that
creates and drops locks keeps at most one page (and one or two fds) open, and none
once every lock is gone. Processes read and write cells without atomic
instructions: every multi-step update happens under a lock, and the lock-free
reads (a holder's token, an Event's flag) are of single aligned 8-byte words.
"""

from __future__ import annotations

import itertools
import mmap
import os
import sys
import threading
import weakref

from .._runtime.state import register_after_fork_on_use
from .._serialize.spawning import assert_spawning

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Cells", "Page", "CELL_SIZE", "CELLS_PER_PAGE"]

PAGE_SIZE = mmap.PAGESIZE
CELL_SIZE = 8
CELLS_PER_PAGE = PAGE_SIZE // CELL_SIZE
_MAP_KWARGS: dict[str, Any] = {"trackfd": False} if sys.version_info >= (3, 13) else {}


class Page:
    """One shared page of cells, and the fd that lets other processes map it."""

    __slots__ = ("fd", "key", "view", "_map", "__weakref__")

    def __init__(self, fd: int, key: tuple[int, int]) -> None:
        self.fd = fd
        self.key = key  # (creating pid, serial): the same page under any fd number
        self._map = mmap.mmap(fd, PAGE_SIZE, **_MAP_KWARGS)
        self.view = memoryview(self._map).cast("q")

    def __del__(self) -> None:
        fd, self.fd = self.fd, -1
        try:
            if fd >= 0:
                os.close(fd)
        except Exception:  # interpreter shutdown: os may already be gone
            pass


def _anonymous_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("mproc-sync", os.MFD_CLOEXEC)
    import tempfile

    fd, path = tempfile.mkstemp(prefix="mproc-sync-")
    os.unlink(path)
    return fd


_serials = itertools.count()
# Pages this process has mapped, by key, so a page received twice is mapped once.
_pages: weakref.WeakValueDictionary[tuple[int, int], Page] = weakref.WeakValueDictionary()


def _new_page() -> Page:
    fd = _anonymous_file()
    try:
        os.ftruncate(fd, PAGE_SIZE)
        page = Page(fd, (os.getpid(), next(_serials)))
    except BaseException:
        os.close(fd)
        raise
    _pages[page.key] = page
    return page


def _attach(fd: int, key: tuple[int, int]) -> Page:
    page = _pages.get(key)
    if page is not None:
        if fd != page.fd:
            os.close(fd)  # a second copy of an fd we already hold
        return page
    page = Page(fd, key)
    _pages[key] = page
    return page


class _Allocator:
    """Hands out cells from the current page; a new page when it is full or gone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._page: weakref.ref[Page] | None = None
        self._next = 0

    def _after_fork(self) -> None:
        # The parent keeps allocating from its page; a child must not hand out the
        # same cells, so it starts its own.
        self._lock = threading.Lock()
        self._page = None
        self._next = 0

    def allocate(self, count: int) -> tuple[Page, int]:
        if not 0 < count <= CELLS_PER_PAGE:
            raise ValueError(f"cannot allocate {count} cells")
        register_after_fork_on_use(self, _Allocator._after_fork)
        with self._lock:
            page = self._page() if self._page is not None else None
            if page is None or self._next + count > CELLS_PER_PAGE:
                page = _new_page()
                self._page = weakref.ref(page)
                self._next = 0
            index = self._next
            self._next += count
            return page, index


_allocator = _Allocator()


class Cells:
    """``count`` consecutive shared int64 cells: ``view[index + k]`` is cell ``k``.

    Pickled only while a child process is being started (the page travels as an
    inherited fd).
    """

    __slots__ = ("page", "index", "count", "view")

    def __init__(self, count: int) -> None:
        self.page, self.index = _allocator.allocate(count)
        self.count = count
        self.view = self.page.view

    def __getitem__(self, k: int) -> int:
        return int(self.view[self.index + k])

    def __setitem__(self, k: int, value: int) -> None:
        self.view[self.index + k] = value

    def offset(self, k: int) -> int:
        """Byte offset of cell ``k`` in the page's file (for fcntl range locks)."""
        return (self.index + k) * CELL_SIZE

    def __getstate__(self) -> tuple[Any, tuple[int, int], int, int]:
        assert_spawning(self)
        from .._serialize.fds import DupFd

        return (DupFd(self.page.fd), self.page.key, self.index, self.count)

    def __setstate__(self, state: tuple[Any, tuple[int, int], int, int]) -> None:
        dupfd, key, index, count = state
        self.page = _attach(dupfd.detach(), tuple(key))  # type: ignore[arg-type]
        self.index = index
        self.count = count
        self.view = self.page.view

    def __repr__(self) -> str:
        values = [self[k] for k in range(self.count)]
        return f"<Cells page={self.page.key} index={self.index} values={values}>"
