"""Items to packets and back.

A packet is one of::

    0x80 ...                         a whole pickle (it fits: the common case)
    STORE  where + how               the item lives in the store (store.py):
                                     a pickle and its out-of-band buffers, or the
                                     raw contents of a top-level bytes/bytearray
    SPILL  batch, position, count    items a process set aside on its way out; the
                                     batch is a run of [length][packet] in the store

Pickling happens in ``put()``, in the caller's thread, so an object that cannot be
pickled raises there, with the caller's traceback. Objects made only of builtin
scalars in small containers skip the Python-level pickler (``pickle.dumps`` gives
the same bytes for them, five times faster). Everything else goes through mproc's
pickler at protocol 5 with a buffer callback: buffers of 4 KiB and more (numpy
arrays, ``PickleBuffer``, memoryviews) are written straight from the object's
memory into the store, and read back into fresh writable memory on the other side.
Top-level ``bytes`` and ``bytearray`` skip pickling altogether.
"""

from __future__ import annotations

import io
import pickle
import struct

from .._serialize.pickler import Pickler
from .store import HEADER, Store, align
from .transport import PACKET_MAX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["encode", "decode", "spill", "take_from_spill", "discard", "PICKLE_MARK",
           "KIND_STORE", "KIND_SPILL", "INBAND_MAX"]

PICKLE_MARK = 0x80  # pickle's PROTO opcode: every protocol-5 pickle starts with it
KIND_STORE = 0x01
KIND_SPILL = 0x02
FORM_PICKLE, FORM_BYTES, FORM_BYTEARRAY = 0, 1, 2
FLAG_TRACKED = 0x01
INBAND_MAX = 4096  # smaller buffers stay inside the pickle
_ALIGN = 64  # buffers start on cache lines (and numpy's alignment needs)

# kind, flags (tracked | form << 4), nbufs, unused, meta bytes, offset, capacity, raw length
_STORE = struct.Struct("<BBHIQQQQ")
# kind, count, offset, capacity, position of the next record
_SPILL = struct.Struct("<BxxxIQQQ")
_ENTRY = struct.Struct("<QQQ")  # buffer: offset in region, bytes, read-only
_LEN = struct.Struct("<I")

_dumps = pickle.dumps
_loads = pickle.loads
_ATOMS = frozenset({int, float, str, bool, type(None), complex})
_SCALARS = _ATOMS | {bytes}
_SEQUENCES = frozenset({tuple, list, set, frozenset})
_SMALL = 16


def _plain(obj: Any, depth: int = 2) -> bool:
    """Builtin scalars in small builtin containers: ``pickle.dumps`` suffices."""
    t = type(obj)
    if t in _SCALARS:
        return True
    if not depth or (t not in _SEQUENCES and t is not dict) or len(obj) > _SMALL:
        return False
    depth -= 1
    if t is dict:
        for key, value in obj.items():
            if not (type(key) in _SCALARS and _plain(value, depth)):
                return False
        return True
    for item in obj:
        if type(item) not in _SCALARS and not _plain(item, depth):
            return False
    return True


def _rebuild_memoryview(buffer: Any, fmt: str, shape: tuple[int, ...]) -> memoryview:
    view = memoryview(buffer)
    if fmt == "B" and len(shape) == 1:
        return view
    return view.cast("B").cast(fmt, shape)  # type: ignore[call-overload]


def _reduce_memoryview(view: memoryview) -> Any:
    try:
        memoryview(bytes(view.itemsize)).cast(view.format)  # type: ignore[call-overload]
    except (ValueError, TypeError):
        return NotImplemented  # a format cast() cannot restore: pickle refuses as usual
    if view.c_contiguous:
        return _rebuild_memoryview, (pickle.PickleBuffer(view), view.format, view.shape)
    return _rebuild_memoryview, (view.tobytes(), view.format, view.shape)


class QueuePickler(Pickler):
    """mproc's pickler, plus memoryviews (as buffers, out of band when large)."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is memoryview:
            return _reduce_memoryview(obj)
        return Pickler.reducer_override(self, obj)


def encode(obj: Any, store: Store) -> bytes:
    """The packet for ``obj``; writes to the store when it does not fit."""
    t = type(obj)
    if t in _ATOMS:
        data = _dumps(obj, 5)
    elif t is tuple and len(obj) <= _SMALL:
        for item in obj:  # the commonest message: a short tuple of scalars
            if type(item) not in _ATOMS:
                break
        else:
            data = _dumps(obj, 5)
            if len(data) <= PACKET_MAX:
                return data
            return _to_store(store, FORM_PICKLE, [data], data, [])
        return _encode_other(obj, store)
    elif t is bytes or t is bytearray:
        if len(obj) > PACKET_MAX - 16:
            form = FORM_BYTES if t is bytes else FORM_BYTEARRAY
            return _to_store(store, form, [obj], None, [])
        return _dumps(obj, 5)
    else:
        return _encode_other(obj, store)
    if len(data) <= PACKET_MAX:
        return data
    return _to_store(store, FORM_PICKLE, [data], data, [])


def _encode_other(obj: Any, store: Store) -> bytes:
    if _plain(obj):
        data = _dumps(obj, 5)
        if len(data) <= PACKET_MAX:
            return data
        return _to_store(store, FORM_PICKLE, [data], data, [])
    buffers: list[memoryview] = []

    def keep(pb: pickle.PickleBuffer) -> bool:
        raw = pb.raw()
        if raw.nbytes < INBAND_MAX:
            raw.release()
            return True
        buffers.append(raw)
        return False

    try:
        out = io.BytesIO()
        QueuePickler(out, 5, buffer_callback=keep).dump(obj)
        data = out.getvalue()
        if not buffers and len(data) <= PACKET_MAX:
            return data
        return _to_store(store, FORM_PICKLE, [data], data, buffers)
    finally:
        for raw in buffers:
            raw.release()


def _to_store(store: Store, form: int, first: list[Any], data: bytes | None,
              buffers: list[memoryview]) -> bytes:
    """Write one item to a new region; return the STORE packet announcing it."""
    entries = []
    table = _ENTRY.size * len(buffers)
    meta = table + (len(data) if data is not None else 0)
    parts: list[Any] = [b"", *first]
    end = HEADER + (meta if form == FORM_PICKLE else len(first[0]))
    for raw in buffers:
        start = align(end, _ALIGN)
        if start > end:
            parts.append(bytes(start - end))
        entries.append(_ENTRY.pack(start, raw.nbytes, raw.readonly))
        parts.append(raw)
        end = start + raw.nbytes
    parts[0] = bytes(HEADER) + b"".join(entries)
    offset, capacity, tracked = store.reserve(end - HEADER)
    try:
        store.write(offset, parts, capacity if tracked else 0)
    except BaseException:
        store.abandon(offset, capacity)
        raise
    store.published(offset, capacity, tracked)
    raw_len = 0 if form == FORM_PICKLE else len(first[0])
    flags = (FLAG_TRACKED if tracked else 0) | (form << 4)
    return _STORE.pack(KIND_STORE, flags, len(buffers), 0, meta, offset, capacity, raw_len)


def decode(packet: bytes, store: Store) -> Any:
    """The item a packet stands for (reading, then freeing, its region if any)."""
    kind = packet[0]
    if kind == PICKLE_MARK:
        return _loads(packet)
    if kind != KIND_STORE:
        raise ValueError(f"not a queue packet (kind {kind:#x})")
    _, flags, nbufs, _, meta, offset, capacity, raw_len = _STORE.unpack_from(packet)
    form = flags >> 4
    tracked = bool(flags & FLAG_TRACKED)
    view = store.begin(offset, capacity) if tracked else None
    try:
        if form == FORM_BYTES:
            return _copy(store, view, offset, HEADER, raw_len, bytes)
        if form == FORM_BYTEARRAY:
            return _copy(store, view, offset, HEADER, raw_len, bytearray)
        blob = _copy(store, view, offset, HEADER, meta, bytes)
        buffers: list[Any] = []
        for i in range(nbufs):
            start, size, readonly = _ENTRY.unpack_from(blob, i * _ENTRY.size)
            buffers.append(_copy(store, view, offset, start, size,
                                 bytes if readonly else bytearray))
        return _loads(memoryview(blob)[nbufs * _ENTRY.size:], buffers=buffers)
    finally:
        store.release(offset, capacity, tracked)


def _copy(store: Store, view: memoryview | None, offset: int, start: int, size: int,
          kind: type) -> Any:
    """A ``bytes`` or ``bytearray`` copy of ``size`` bytes at ``start`` in the region
    at ``offset``: from its mapping when there is one, else read from the file."""
    if view is not None:
        return kind(view[start:start + size])
    if kind is bytes:
        return store.read(offset + start, size)
    out = bytearray(size)
    store.read_into(offset + start, out)
    return out


def discard(packet: bytes, store: Store) -> None:
    """Free what an unsent packet holds in the store (it will never be read)."""
    if packet[0] == KIND_STORE:
        _, _, _, _, _, offset, capacity, _ = _STORE.unpack_from(packet)
        store.abandon(offset, capacity)
    elif packet[0] == KIND_SPILL:
        for record in _records(packet, store):
            discard(record, store)
        _, _, offset, capacity, _ = _SPILL.unpack_from(packet)
        store.abandon(offset, capacity)


def _records(notice: bytes, store: Store) -> list[bytes]:
    _, count, _, _, position = _SPILL.unpack_from(notice)
    out = []
    for _ in range(count):
        blob = store.read(position, _LEN.size + PACKET_MAX)
        (size,) = _LEN.unpack_from(blob)
        out.append(blob[_LEN.size:_LEN.size + size])
        position += _LEN.size + size
    return out


def spill(packets: list[bytes], store: Store) -> bytes:
    """Write ``packets`` as one batch in the store; return the SPILL notice."""
    parts: list[Any] = [bytes(HEADER)]
    for packet in packets:
        parts.append(_LEN.pack(len(packet)))
        parts.append(packet)
    size = sum(len(p) for p in parts) - HEADER
    offset, capacity, _ = store.reserve(size, cache=False)
    try:
        store.write(offset, parts)
    except BaseException:
        store.abandon(offset, capacity)
        raise
    store.published(offset, capacity, False)
    return _SPILL.pack(KIND_SPILL, len(packets), offset, capacity, offset + HEADER)


def take_from_spill(notice: bytes, store: Store) -> tuple[bytes, bytes | None]:
    """The first packet of a batch, and the notice for the rest (None: batch done,
    and freed)."""
    _, count, offset, capacity, position = _SPILL.unpack_from(notice)
    blob = store.read(position, _LEN.size + PACKET_MAX)
    (size,) = _LEN.unpack_from(blob)
    packet = blob[_LEN.size:_LEN.size + size]
    if count > 1:
        rest = _SPILL.pack(KIND_SPILL, count - 1, offset, capacity, position + _LEN.size + size)
        return packet, rest
    store.punch(offset, capacity)
    return packet, None
