"""Pipe and Connection semantics, in-process and across every start method."""

from __future__ import annotations

import array
import os
import struct

import pytest

import mproc
import mproc.connection
from mproc.errors import BufferTooShort, MessageTooLargeError

TIMEOUT = 30


STOP = b"--stop--"


def _echo(conn):
    # Under fork the child also holds the parent's end, so EOF never comes: stop on None.
    for obj in iter(conn.recv, None):
        conn.send(obj)
    conn.close()


def _echo_bytes(conn):
    for data in iter(conn.recv_bytes, STOP):
        conn.send_bytes(data)
    conn.close()


def _send_back(conn, other):
    other.send("via passed connection")
    other.close()
    conn.send("done")
    conn.close()


@pytest.fixture
def pipe():
    a, b = mproc.Pipe()
    yield a, b
    a.close()
    b.close()


def test_duplex_roundtrip_and_eof(pipe):
    a, b = pipe
    a.send({"x": [1, 2, 3]})
    assert b.recv() == {"x": [1, 2, 3]}
    b.send_bytes(b"hello world", 6, 5)
    assert a.recv_bytes() == b"world"
    b.close()
    with pytest.raises(EOFError):
        a.recv()


def test_one_way_pipe_refuses_wrong_direction():
    reader, writer = mproc.Pipe(duplex=False)
    with reader, writer:
        with pytest.raises(OSError, match="write-only"):
            writer.recv()
        with pytest.raises(OSError, match="read-only"):
            reader.send(1)
        assert reader.readable and not reader.writable
        assert writer.writable and not writer.readable


def test_send_bytes_argument_checks(pipe):
    a, _ = pipe
    with pytest.raises(ValueError, match="offset is negative"):
        a.send_bytes(b"abc", -1)
    with pytest.raises(ValueError, match="buffer length < offset"):
        a.send_bytes(b"abc", 4)
    with pytest.raises(ValueError, match="size is negative"):
        a.send_bytes(b"abc", 1, -1)
    with pytest.raises(ValueError, match="buffer length < offset \\+ size"):
        a.send_bytes(b"abc", 1, 3)


def test_recv_bytes_maxlength_closes_on_overflow(pipe):
    a, b = pipe
    a.send_bytes(b"x" * 100)
    with pytest.raises(OSError, match="bad message length"):
        b.recv_bytes(10)
    assert b.closed


def test_recv_bytes_into_and_buffer_too_short(pipe):
    a, b = pipe
    buf = array.array("i", [0] * 4)
    a.send_bytes(array.array("i", [1, 2]))
    assert b.recv_bytes_into(buf, 8) == 8
    assert list(buf) == [0, 0, 1, 2]
    a.send_bytes(b"y" * 64)
    small = bytearray(8)
    with pytest.raises(BufferTooShort) as info:
        b.recv_bytes_into(small)
    assert info.value.args[0] == b"y" * 64


def test_poll_and_closed_errors(pipe):
    a, b = pipe
    assert not b.poll()
    assert not b.poll(0.05)
    a.send(1)
    assert b.poll(TIMEOUT)
    assert b.recv() == 1
    a.close()
    with pytest.raises(OSError, match="handle is closed"):
        a.send(1)
    assert b.poll(TIMEOUT)  # EOF is readable


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 1 << 20, (4 << 20) + 3])
def test_message_sizes_roundtrip_through_child(ctx, size):
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_echo_bytes, args=(child,))
    proc.start()
    child.close()
    payload = os.urandom(size)
    parent.send_bytes(payload)
    assert parent.recv_bytes() == payload
    parent.send_bytes(STOP)
    parent.close()
    proc.join(TIMEOUT)
    assert proc.exitcode == 0


def test_many_small_messages_arrive_in_order(ctx):
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_echo, args=(child,))
    proc.start()
    child.close()
    for i in range(200):
        parent.send(("msg", i))
    assert [parent.recv()[1] for _ in range(200)] == list(range(200))
    parent.send(None)
    parent.close()
    proc.join(TIMEOUT)


def test_absurd_length_header_is_refused_without_allocating(pipe):
    a, b = pipe
    os.write(a.fileno(), struct.pack("!I", 0xFFFFFFFF) + struct.pack("!Q", 1 << 62))
    with pytest.raises(MessageTooLargeError, match="limit"):
        b.recv_bytes()
    assert b.closed


def test_truncated_message_is_eof_not_hang(pipe):
    a, b = pipe
    os.write(a.fileno(), struct.pack("!I", 1000) + b"only a little")
    a.close()
    with pytest.raises(EOFError):
        b.recv_bytes()


def test_connection_passed_to_running_child(ctx):
    control, child_control = ctx.Pipe()
    proc = ctx.Process(target=_send_back_from_queue, args=(child_control,))
    proc.start()
    child_control.close()
    reader, writer = mproc.Pipe(duplex=False)
    control.send(writer)  # the child is already running: the fd travels by SCM_RIGHTS
    writer.close()
    assert reader.poll(TIMEOUT)
    assert reader.recv() == "via passed connection"
    assert control.recv() == "done"
    reader.close()
    control.close()
    proc.join(TIMEOUT)
    assert proc.exitcode == 0


def _send_back_from_queue(control):
    other = control.recv()
    _send_back(control, other)


def test_wait_returns_ready_objects(pipe):
    a, b = pipe
    r, w = mproc.Pipe(duplex=False)
    with r, w:
        assert mproc.connection.wait([b, r], timeout=0.05) == []
        a.send(1)
        assert mproc.connection.wait([b, r], timeout=TIMEOUT) == [b]
        w.send(2)
        b.recv()
        assert mproc.connection.wait([b, r], timeout=TIMEOUT) == [r]


# -- one-way pipes (a socketpair with the read end shut for writing) ------------


def test_one_way_pipe_eof_when_writer_closes():
    reader, writer = mproc.Pipe(duplex=False)
    with reader:
        writer.send_bytes(b"last")
        writer.close()
        assert reader.poll(TIMEOUT)
        assert reader.recv_bytes() == b"last"
        assert reader.poll(TIMEOUT)  # EOF is readable
        with pytest.raises(EOFError):
            reader.recv_bytes()


def test_one_way_pipe_ends_are_one_way_at_the_os_level_too():
    reader, writer = mproc.Pipe(duplex=False)
    with reader, writer:
        with pytest.raises(OSError):
            os.write(reader.fileno(), b"x")  # an OS pipe's read end refuses writes too
        assert not reader.poll(0)  # nothing leaked into the reader's stream
        os.write(writer.fileno(), struct.pack("!I", 2) + b"ok")
        assert reader.recv_bytes() == b"ok"
        with pytest.raises(OSError):
            os.read(writer.fileno(), 10)  # and its write end refuses reads
        assert isinstance(reader.fileno(), int) and reader.fileno() != writer.fileno()


def test_one_way_pipe_writer_sees_broken_pipe_after_reader_closes():
    reader, writer = mproc.Pipe(duplex=False)
    with writer:
        reader.close()
        with pytest.raises(OSError):  # BrokenPipeError, as with an OS pipe
            writer.send_bytes(b"x" * 100)


@pytest.mark.parametrize("size", [0, 1, 65536, 1 << 20, (3 << 20) + 7])
def test_one_way_pipe_message_sizes_in_process(size):
    import threading

    reader, writer = mproc.Pipe(duplex=False)
    payload = os.urandom(size)
    sender = threading.Thread(target=lambda: [writer.send_bytes(payload), writer.send(payload)])
    sender.start()
    try:
        assert reader.recv_bytes() == payload
        assert reader.recv() == payload
    finally:
        sender.join(TIMEOUT)
        reader.close()
        writer.close()


def _stream_then_exit(writer, count):
    for i in range(count):
        writer.send_bytes(bytes([i % 256]) * (1 << 20))
    writer.send(("done", count))
    writer.close()


def test_one_way_writer_passed_to_child_then_eof(ctx):
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_stream_then_exit, args=(writer, 5))
    proc.start()
    writer.close()
    try:
        for i in range(5):
            assert reader.poll(TIMEOUT)
            assert reader.recv_bytes() == bytes([i % 256]) * (1 << 20)
        assert reader.recv() == ("done", 5)
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
        assert reader.poll(TIMEOUT)
        with pytest.raises(EOFError):  # the only writer is gone
            reader.recv_bytes()
    finally:
        reader.close()
        proc.join(TIMEOUT)


def _read_all_and_report(reader, report, writer):
    writer.close()  # a fork child inherits the write end: EOF needs every copy closed
    total = 0
    try:
        while True:
            total += len(reader.recv_bytes())
    except EOFError:
        pass
    with pytest.raises(OSError):
        reader.send(1)
    report.send(total)
    report.close()
    reader.close()


def test_one_way_reader_passed_to_child_sees_eof(ctx):
    reader, writer = ctx.Pipe(duplex=False)
    result_r, result_w = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_read_all_and_report, args=(reader, result_w, writer))
    proc.start()
    reader.close()
    result_w.close()
    try:
        for _ in range(3):
            writer.send_bytes(b"y" * (1 << 20))
        writer.close()
        assert result_r.poll(TIMEOUT)
        assert result_r.recv() == 3 << 20
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
    finally:
        writer.close()
        result_r.close()
        proc.join(TIMEOUT)


def _frame(payload: bytes) -> bytes:
    return struct.pack("!I", len(payload)) + payload


@pytest.mark.parametrize("receive", ["recv_bytes", "recv"])
def test_reads_that_bring_other_than_one_whole_frame_still_give_each_message(pipe, receive):
    # The receive fast path takes a read that is exactly one frame; every other shape
    # of read (several frames, a frame cut in two, an empty payload) goes the general
    # way with the bytes already read.
    import pickle

    a, b = pipe
    fd = a.fileno()
    messages = [b"one", b"", b"three" * 1000, b"four"]
    encoded = [m if receive == "recv_bytes" else pickle.dumps(m) for m in messages]
    os.write(fd, b"".join(_frame(e) for e in encoded[:2]))  # two frames in one read
    got = [getattr(b, receive)(), getattr(b, receive)()]
    whole = _frame(encoded[2])
    os.write(fd, whole[:3])  # less than a header
    os.write(fd, whole[3:100])
    os.write(fd, whole[100:] + _frame(encoded[3]))  # the rest and a whole next frame
    got += [getattr(b, receive)(), getattr(b, receive)()]
    assert got == messages
    assert not b.poll(0)


def test_a_whole_frame_over_the_size_limit_is_refused_on_the_fast_path_too(pipe):
    a, b = pipe
    b.max_message_size = 10
    os.write(a.fileno(), _frame(b"x" * 11))
    with pytest.raises(MessageTooLargeError, match="limit"):
        b.recv_bytes()
    assert b.closed


def test_a_one_way_pipe_grows_its_buffer_before_its_first_large_message():
    import fcntl
    import threading

    get_size = 1032  # F_GETPIPE_SZ (Linux)
    reader, writer = mproc.Pipe(duplex=False)
    try:
        first = fcntl.fcntl(writer.fileno(), get_size)
        writer.send_bytes(b"small")
        assert reader.recv_bytes() == b"small"
        assert fcntl.fcntl(writer.fileno(), get_size) == first  # not for small ones
        got = []
        receiver = threading.Thread(target=lambda: got.append(reader.recv_bytes()))
        receiver.start()
        writer.send_bytes(b"x" * (1 << 20))
        receiver.join(TIMEOUT)
        assert got == [b"x" * (1 << 20)]
        assert fcntl.fcntl(writer.fileno(), get_size) == 1 << 20
    finally:
        reader.close()
        writer.close()


def _send_megabyte(writer):
    writer.send_bytes(b"y" * (1 << 20))
    writer.close()


def test_a_one_way_writer_sent_to_a_spawned_child_grows_the_pipe_first():
    import fcntl

    ctx = mproc.get_context("spawn")
    reader, writer = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_send_megabyte, args=(writer,))
    try:
        child.start()  # pickles the writer: the copy in the child starts a new object
        assert fcntl.fcntl(reader.fileno(), 1032) == 1 << 20  # F_GETPIPE_SZ
        assert reader.recv_bytes() == b"y" * (1 << 20)
    finally:
        child.join(TIMEOUT)
        reader.close()
        writer.close()
    assert child.exitcode == 0
