"""Named shared-memory segments: ``SharedMemory`` and ``ShareableList``.

A segment is a POSIX shared-memory object (``shm_open``), mapped into every process
that opens it by name. This is the one module of mproc that calls ``_posixshmem``.

Ownership is the difference from the stdlib. There, every process that *opens* a
segment registers it with its resource tracker, so a separate program that merely
attached removes the segment when it exits, under the feet of the program that made
it. Here only the creator owns a segment::

    creator   SharedMemory(create=True)  -> shm_open(O_CREAT|O_EXCL), register
    attacher  SharedMemory(name)         -> shm_open(O_RDWR), nothing else
    anyone    unlink()                   -> shm_unlink, unregister
    creator's tree ends, never unlinked  -> the tracker removes it (and warns)

``track=False`` (3.13's keyword) also keeps the creator from registering. The fd
from ``shm_open`` is closed as soon as the segment is mapped: the mapping is all a
process needs, so holding many segments does not use up file descriptors (below
3.13 the ``mmap`` object keeps a private duplicate).

``ShareableList`` keeps the stdlib's memory layout, so a process running the stdlib
can attach to a list made here and the reverse::

    q count | q offsets[count + 1] | item data (8-byte slots, "Ns" strings)
    | 8s format[count] | b decode-code[count]
"""

from __future__ import annotations

import _posixshmem
import contextlib
import mmap
import operator
import os
import struct
import sys
import types

from . import tracker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any, Generic, TypeVar
else:
    from .._runtime.generic import Generic, TypeVar

_T = TypeVar("_T")

__all__ = [
    "SharedMemory",
    "ShareableList",
    "_make_filename",
    "_USE_POSIX",
    "_SHM_NAME_PREFIX",
    "_SHM_SAFE_NAME_LENGTH",
]

RTYPE = "shared_memory"
_USE_POSIX = True
# macOS limits names to 31 bytes; 14 leaves room on every platform.
_SHM_SAFE_NAME_LENGTH = 14
_SHM_NAME_PREFIX = "/psm_"
_O_CREX = os.O_CREAT | os.O_EXCL
_MAP_KWARGS: dict[str, Any] = {"trackfd": False} if sys.version_info >= (3, 13) else {}
_PUBLIC_MODULE = "mproc.shared_memory"


def _make_filename() -> str:
    """A random name for a new segment (with the leading slash POSIX wants)."""
    nbytes = (_SHM_SAFE_NAME_LENGTH - len(_SHM_NAME_PREFIX)) // 2
    return _SHM_NAME_PREFIX + os.urandom(nbytes).hex()


def _new_name() -> str:
    # Resolved through the public module when it is loaded: code (CPython's own
    # tests among it) patches ``shared_memory._make_filename`` at that path.
    public = sys.modules.get(_PUBLIC_MODULE)
    make = getattr(public, "_make_filename", _make_filename)
    return make()  # type: ignore[no-any-return]


def _unlink_segment(name: str) -> None:
    """Remove the segment ``name`` (the tracker's cleanup for ``shared_memory``)."""
    _posixshmem.shm_unlink(name)


tracker.register_cleanup(RTYPE, _unlink_segment)


def _abandon(name: str, track: bool) -> None:
    """Remove a segment whose creation failed half-way (best effort)."""
    try:
        _posixshmem.shm_unlink(name)
    except OSError:
        pass
    if track:
        try:
            tracker.unregister(name, RTYPE)
        except Exception:
            pass


def _check_arguments(name: str | None, size: int, create: bool, exclusive: bool) -> None:
    if size < 0:
        raise ValueError("'size' must be a positive integer")
    if create and size == 0:
        raise ValueError("'size' must be a positive number different from zero")
    if name is None and not exclusive:
        raise ValueError("'name' can only be None if create=True")


def _open_segment(name: str | None, flags: int, mode: int, slash: bool) -> tuple[str, int]:
    """(POSIX name, fd) of the segment; a fresh random name when ``name`` is None."""
    if name is not None:
        full = "/" + name if slash else name
        return full, _posixshmem.shm_open(full, flags, mode=mode)
    while True:  # retry on the (unlikely) collision of random names
        candidate = _new_name()
        with contextlib.suppress(FileExistsError):
            return candidate, _posixshmem.shm_open(candidate, flags, mode=mode)


def _map_segment(fd: int, name: str, size: int, owned: bool,
                 track: bool) -> tuple[int, mmap.mmap]:
    """Size (a segment we made) and map the segment; undo our creation on failure."""
    try:
        if owned:
            if track:
                tracker.register(name, RTYPE)  # before sizing: a crash is still covered
            os.ftruncate(fd, size)
        size = os.fstat(fd).st_size
        return size, mmap.mmap(fd, size, **_MAP_KWARGS)
    except BaseException:
        if owned:
            _abandon(name, track)
        raise


class SharedMemory:
    """A block of shared memory, created or attached to by name.

    ``SharedMemory(create=True, size=n)`` makes a new segment with a random name;
    ``SharedMemory(name)`` attaches to an existing one. ``buf`` is a memoryview of
    it. ``close()`` detaches this object; ``unlink()`` removes the name (once, by
    any process). Only the creator registers the segment with the resource
    tracker, and only when ``track`` is true; see the module docstring.
    """

    # ``_flags`` and ``_mode`` may be overridden by subclasses (CPython's suite does:
    # O_CREAT without O_EXCL means "attach, creating if missing", and owns nothing).
    _name: str | None = None
    _fd = -1
    _mmap: mmap.mmap | None = None
    _buf: memoryview | None = None
    _flags = os.O_RDWR
    _mode = 0o600
    _prepend_leading_slash = _USE_POSIX
    _track = True
    _size = 0

    def __init__(self, name: str | None = None, create: bool = False, size: int = 0, *,
                 track: bool = True) -> None:
        flags = _O_CREX | os.O_RDWR if create else self._flags
        owned = bool(flags & os.O_EXCL)  # an exclusive open made it: ours to track
        _check_arguments(name, size, create, owned)
        self._track = track
        self._name, fd = _open_segment(name, flags, self._mode, self._prepend_leading_slash)
        try:
            self._size, self._mmap = _map_segment(fd, self._name, size, owned, track)
        finally:
            os.close(fd)
        self._buf = memoryview(self._mmap)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass

    def __reduce__(self) -> tuple[Any, ...]:
        # By name: the receiver attaches (and so never owns the segment).
        return (type(self), (self.name, False, self.size))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, size={self.size})"

    @property
    def buf(self) -> memoryview | None:
        """A memoryview of the segment's contents (None once closed)."""
        return self._buf

    @property
    def name(self) -> str:
        """The name that identifies the segment, without POSIX's leading slash."""
        name = self._name or ""
        if self._prepend_leading_slash and name.startswith("/"):
            return name[1:]
        return name

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self._size

    def close(self) -> None:
        """Detach this object from the segment; the segment itself stays."""
        if self._buf is not None:
            self._buf.release()
            self._buf = None
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None
        if self._fd >= 0:  # only set by subclasses that keep one
            os.close(self._fd)
            self._fd = -1

    def unlink(self) -> None:
        """Remove the segment's name; processes still attached keep their mapping.

        Call it once, from any one process. It also withdraws the segment from the
        resource tracker, which would otherwise try to remove it again.
        """
        if self._name:
            _posixshmem.shm_unlink(self._name)
            if self._track:
                tracker.unregister(self._name, RTYPE)


# -- ShareableList ----------------------------------------------------------------

_ALIGN = 8
_ENCODING = "utf8"
# One byte per item says how to turn the unpacked value back into a Python object.
_AS_IS, _AS_STR, _AS_BYTES, _AS_NONE = 0, 1, 2, 3
_FIXED_FORMATS: dict[type, str] = {
    int: "q",
    float: "d",
    bool: "xxxxxxx?",
    type(None): "xxxxxx?x",
}
_META = struct.Struct("q")
_FORMAT_SLOT = struct.Struct("8s")
_CODE = struct.Struct("b")


def _decode(code: int, value: Any) -> Any:
    if code == _AS_STR:
        return value.rstrip(b"\x00").decode(_ENCODING)
    if code == _AS_BYTES:
        return value.rstrip(b"\x00")
    if code == _AS_NONE:
        return None
    return value


def _code_for(value: Any) -> int:
    if isinstance(value, str):
        return _AS_STR
    if isinstance(value, bytes):
        return _AS_BYTES
    if value is None:
        return _AS_NONE
    return _AS_IS


def _encoded(value: Any) -> Any:
    return value.encode(_ENCODING) if isinstance(value, str) else value


def _fixed_format(value: Any) -> str:
    try:
        return _FIXED_FORMATS[type(value)]
    except KeyError:
        raise TypeError(
            f"ShareableList cannot hold {type(value).__name__!r} objects; it holds "
            "int, float, bool, str, bytes and None"
        ) from None


def _format_for(value: Any) -> str:
    """The struct format of a new item: 8 bytes, or str/bytes rounded up past 8s."""
    if isinstance(value, (str, bytes)):
        # The stdlib's slot for str is sized by characters, which cuts multi-byte
        # text short; keep its size (and so its format) whenever the encoded text
        # fits, and grow the slot when it does not.
        slot = _ALIGN * (len(value) // _ALIGN + 1)
        needed = len(_encoded(value))
        if needed > slot:
            slot = _ALIGN * (needed // _ALIGN + 1)
        return f"{slot}s"
    return _fixed_format(value)


def _attach_list(cls: type[ShareableList], name: str) -> ShareableList:
    return cls(name=name)


class ShareableList(Generic[_T]):
    """A fixed-length list of int, float, bool, str, bytes and None in shared memory.

    ``ShareableList(sequence)`` creates a segment holding the items;
    ``ShareableList(name=...)`` attaches to an existing one. An item can be
    replaced by one of any supported type, but a str or bytes item can never
    outgrow the slot its position was given at creation (ValueError).
    """

    __class_getitem__: Any = classmethod(types.GenericAlias)

    shm: SharedMemory
    """The segment that holds the list."""

    def __init__(self, sequence: Iterable[_T] | None = None, *, name: str | None = None) -> None:
        if name is None or sequence is not None:
            items = list(sequence or ())
            formats = [_format_for(item) for item in items]
            offsets = [0]
            for fmt in formats:
                offsets.append(offsets[-1] + (int(fmt[:-1]) if fmt[-1] == "s" else _ALIGN))
            self._list_len = len(items)
            self._allocated_offsets = offsets
            size = (
                _META.size * (len(items) + 2)
                + offsets[-1]
                + _FORMAT_SLOT.size * len(items)
                + _CODE.size * len(items)
            )
            self.shm = SharedMemory(name, create=True, size=size)
            self._write_new(items, formats)
        else:
            self.shm = SharedMemory(name)
            self._list_len = len(self)
            self._allocated_offsets = list(
                struct.unpack_from("q" * (self._list_len + 1), self._buffer, _META.size)
            )

    def _write_new(self, items: list[Any], formats: list[str]) -> None:
        buf = self._buffer
        count = len(items)
        struct.pack_into("q" * (count + 2), buf, 0, count, *self._allocated_offsets)
        for position, (item, fmt) in enumerate(zip(items, formats, strict=True)):
            struct.pack_into(fmt, buf, self._item_offset(position), _encoded(item))
            self._store_meta(position, fmt, item)

    # -- layout ---------------------------------------------------------------

    @property
    def _buffer(self) -> memoryview:
        buf = self.shm.buf
        if buf is None:
            raise ValueError("the ShareableList's shared memory has been closed")
        return buf

    @property
    def _offset_data_start(self) -> int:
        return (self._list_len + 2) * _META.size

    @property
    def _offset_packing_formats(self) -> int:
        return self._offset_data_start + self._allocated_offsets[-1]

    @property
    def _offset_back_transform_codes(self) -> int:
        return self._offset_packing_formats + self._list_len * _FORMAT_SLOT.size

    def _item_offset(self, position: int) -> int:
        return self._offset_data_start + self._allocated_offsets[position]

    def _check_position(self, position: int) -> None:
        if not 0 <= position < self._list_len:
            raise IndexError("Requested position out of range.")

    def _get_packing_format(self, position: int) -> str:
        """The struct format the item at ``position`` is stored with."""
        self._check_position(position)
        offset = self._offset_packing_formats + position * _FORMAT_SLOT.size
        (raw,) = _FORMAT_SLOT.unpack_from(self._buffer, offset)
        return raw.rstrip(b"\x00").decode(_ENCODING)  # type: ignore[no-any-return]

    def _get_back_transform_code(self, position: int) -> int:
        self._check_position(position)
        offset = self._offset_back_transform_codes + position
        return _CODE.unpack_from(self._buffer, offset)[0]  # type: ignore[no-any-return]

    def _store_meta(self, position: int, fmt: str, value: Any) -> None:
        buf = self._buffer
        _FORMAT_SLOT.pack_into(buf, self._offset_packing_formats + position * _FORMAT_SLOT.size,
                               fmt.encode(_ENCODING))
        _CODE.pack_into(buf, self._offset_back_transform_codes + position, _code_for(value))

    def _set_packing_format_and_transform(self, position: int, fmt: str, value: Any) -> None:
        self._check_position(position)
        self._store_meta(position, fmt, value)

    def _normalise(self, position: Any) -> int:
        position = operator.index(position)
        return position if position >= 0 else position + self._list_len

    # -- the sequence ---------------------------------------------------------

    def __getitem__(self, position: int) -> _T:
        """The item at ``position`` (negative counts from the end)."""
        position = self._normalise(position)
        if not 0 <= position < self._list_len:
            raise IndexError("index out of range")
        fmt = self._get_packing_format(position)
        (value,) = struct.unpack_from(fmt, self._buffer, self._item_offset(position))
        return _decode(self._get_back_transform_code(position), value)

    def __setitem__(self, position: int, value: _T) -> None:
        """Replace an item; a str or bytes may not outgrow its slot (ValueError)."""
        position = self._normalise(position)
        if not 0 <= position < self._list_len:
            raise IndexError("assignment index out of range")
        current = self._get_packing_format(position)
        data = _encoded(value)
        if isinstance(value, (str, bytes)):
            room = self._allocated_offsets[position + 1] - self._allocated_offsets[position]
            if len(data) > room:
                raise ValueError("bytes/str item exceeds available storage")
            fmt = current if current.endswith("s") else f"{room}s"
        else:
            fmt = _fixed_format(value)
        self._store_meta(position, fmt, value)
        struct.pack_into(fmt, self._buffer, self._item_offset(position), data)

    def __len__(self) -> int:
        """The number of items (fixed at creation)."""
        return _META.unpack_from(self._buffer, 0)[0]  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[_T]:
        """The items, in order."""
        for position in range(self._list_len):
            yield self[position]

    def __reduce__(self) -> tuple[Any, ...]:
        # By name only: the receiver attaches to the same segment.
        return (_attach_list, (type(self), self.shm.name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)}, name={self.shm.name!r})"

    @property
    def format(self) -> str:
        """The struct format of all the items, concatenated."""
        return "".join(self._get_packing_format(i) for i in range(self._list_len))

    def count(self, value: _T) -> int:
        """How many items equal ``value``."""
        return sum(value == entry for entry in self)

    def index(self, value: _T) -> int:
        """The position of the first item equal to ``value``."""
        for position, entry in enumerate(self):
            if value == entry:
                return position
        raise ValueError(f"{value!r} not in this container")


# Pickles and tracebacks name the public module.
SharedMemory.__module__ = ShareableList.__module__ = _PUBLIC_MODULE
