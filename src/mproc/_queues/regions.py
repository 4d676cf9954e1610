"""Mappings of a queue store's big regions, kept while they are being reused.

A big region (``store.CACHE_MIN`` and up) cycles between one writer and its
readers: the writer fills it, a reader copies it out and marks it KEPT, the writer
fills it again. Going through ``pwrite``/``pread`` each time costs a page-cache
lookup per 4 KiB page and holds the file's inode lock for the whole copy, so a
reader's 8-byte state update waits behind a writer's 10 MB write. Mapping the
region once and copying with ``memcpy`` avoids both: after the first use the pages
stay in this process's page tables, and state words are plain stores.

Each process keeps the mappings of the regions it used last (``LIMIT``, least
recently used dropped first), keyed by ``(offset, capacity)``, which is how a
region is reused. Only copies and state-word *stores* go through a mapping: a
read fault on a punched (hole) page of shared memory allocates it again, so state
words are read with ``pread``. A mapping never leaves this module except as a short-lived
slice that the caller copies from or into: what a queue hands to its user is
always a copy, never a view of memory a writer will fill again.

The file is sparse and grows with its regions; a region is extended and allocated
with ``posix_fallocate`` before it is first mapped for writing, so the mapping is
never past the end of the file (which would be SIGBUS) and never shrinks another
writer's data.
"""

from __future__ import annotations

import collections
import mmap
import os
import struct
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RegionMaps", "LIMIT", "copy_in"]

LIMIT = 16
_WORD = struct.Struct("<Q")
_MAP_KW: dict[str, Any] = {"trackfd": False} if sys.version_info >= (3, 13) else {}
_MADV_REMOVE = getattr(mmap, "MADV_REMOVE", None)


class RegionMaps:
    """This process's mappings of one store's recently used big regions."""

    __slots__ = ("_maps",)

    def __init__(self) -> None:
        self._maps: collections.OrderedDict[tuple[int, int], tuple[mmap.mmap, memoryview]] = (
            collections.OrderedDict())

    def view(self, fd: int, offset: int, capacity: int, *, grow: bool = False) -> memoryview | None:
        """A writable view of the region, mapped now if it is not yet; None when it
        cannot be mapped (the caller then falls back to ``pread``/``pwrite``).

        ``grow``: the caller is the writer about to fill the region, which may lie
        past the end of the file.
        """
        key = (offset, capacity)
        maps = self._maps
        hit = maps.get(key)
        if hit is not None:
            maps.move_to_end(key)
            return hit[1]
        if fd < 0:
            return None
        try:
            if grow:
                os.posix_fallocate(fd, offset, capacity)
            elif os.fstat(fd).st_size < offset + capacity:
                return None  # not written yet as far as the file knows: do not map
            mapping = mmap.mmap(fd, capacity, offset=offset, **_MAP_KW)
        except (OSError, ValueError, OverflowError):
            return None
        view = memoryview(mapping)
        maps[key] = (mapping, view)
        while len(maps) > LIMIT:
            self._unmap(maps.popitem(last=False)[1])
        return view

    def set_word(self, offset: int, capacity: int, value: int) -> bool:
        """Store the region's state word through its mapping; False if not mapped."""
        hit = self._maps.get((offset, capacity))
        if hit is None:
            return False
        _WORD.pack_into(hit[1], 0, value)
        return True

    def punch(self, offset: int, capacity: int) -> bool:
        """Free the region's pages through its mapping; False if it is not mapped."""
        hit = self._maps.get((offset, capacity))
        if hit is None or _MADV_REMOVE is None:
            return False
        try:
            hit[0].madvise(_MADV_REMOVE)
        except OSError:
            return False
        return True

    def close(self) -> None:
        maps, self._maps = self._maps, collections.OrderedDict()
        for pair in maps.values():
            self._unmap(pair)

    @staticmethod
    def _unmap(pair: tuple[mmap.mmap, memoryview]) -> None:
        mapping, view = pair
        try:
            view.release()
            mapping.close()
        except BufferError:  # a slice is still being copied from: let GC unmap it
            pass


def copy_in(view: memoryview, parts: list[Any]) -> None:
    """Write ``parts`` (bytes-like) one after another into ``view`` from its start."""
    pos = 0
    for part in parts:
        src = part if type(part) is bytes else memoryview(part).cast("B")
        end = pos + len(src)
        view[pos:end] = src
        pos = end
