"""Managers and proxies: the stdlib API, remote use, and a server no client can break."""

from __future__ import annotations

import errno
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

import mproc
from mproc.connection import Client
from mproc.errors import AuthenticationError
from mproc.managers import BaseManager, BaseProxy, RemoteError

TIMEOUT = 30
KEY = b"manager key"


class Counter:
    def __init__(self, start=0):
        self.value = start

    def incr(self, by=1):
        self.value += by
        return self.value

    def fail(self):
        raise ValueError("counter failed on purpose")

    def _hidden(self):
        return "hidden"

    def children(self):
        return [Counter(1), Counter(2)]


class CounterManager(BaseManager):
    pass


CounterManager.register("Counter", Counter)
CounterManager.register("OpenCounter", Counter, exposed=("incr", "_hidden"))


def _use_shared(d, lst, ns, q, lock):
    with lock:
        d["child"] = os.getpid()
        lst.append("child")
        ns.flag = True
    q.put("done")


def test_sync_manager_types_cross_processes(ctx):
    with ctx.Manager() as manager:
        d, lst, ns = manager.dict(), manager.list(), manager.Namespace()
        q, lock = manager.Queue(), manager.Lock()
        proc = ctx.Process(target=_use_shared, args=(d, lst, ns, q, lock))
        proc.start()
        assert q.get(timeout=TIMEOUT) == "done"
        proc.join(TIMEOUT)
        assert d["child"] == proc.pid and list(lst) == ["child"] and ns.flag is True
        nested = manager.list([manager.dict(a=1)])
        assert nested[0]["a"] == 1
        assert manager._number_of_objects() >= 5


def test_custom_manager_exposed_and_errors():
    with CounterManager(shutdown_timeout=TIMEOUT) as manager:
        counter = manager.Counter(10)
        assert counter.incr(5) == 15
        assert not hasattr(counter, "_hidden")
        with pytest.raises(ValueError, match="on purpose"):
            counter.fail()
        with pytest.raises(RemoteError, match="not in exposed"):
            counter._callmethod("_hidden")
        opened = manager.OpenCounter()
        assert opened._hidden() == "hidden"
        assert isinstance(counter, BaseProxy)
    assert manager._process.exitcode == 0


def _remote_worker(address, authkey, n):
    class Remote(BaseManager):
        pass

    Remote.register("Counter")
    manager = Remote(address=address, authkey=authkey)
    manager.connect()
    queue = manager.Counter()
    for _ in range(n):
        queue.incr()


class TaskManager(BaseManager):
    pass


_tasks: list = []


def _get_tasks():
    import queue

    if not _tasks:
        _tasks.append(queue.Queue())
    return _tasks[0]


TaskManager.register("get_tasks", callable=_get_tasks)


def _worker_takes_tasks(address, authkey, results):
    class Remote(BaseManager):
        pass

    Remote.register("get_tasks")
    manager = Remote(address=address, authkey=authkey)
    manager.connect()
    tasks = manager.get_tasks()
    results.send(sorted(tasks.get(timeout=TIMEOUT) for _ in range(3)))
    results.close()


def test_remote_manager_over_tcp_serves_workers(ctx):
    manager = TaskManager(address=("127.0.0.1", 0), authkey=KEY)
    manager.start()
    try:
        tasks = manager.get_tasks()
        for n in (3, 1, 2):
            tasks.put(n)
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker_takes_tasks, args=(manager.address, KEY, writer))
        proc.start()
        writer.close()
        assert reader.recv() == [1, 2, 3]
        proc.join(TIMEOUT)
        reader.close()
        del tasks
    finally:
        manager.shutdown()


def test_wrong_authkey_is_refused_and_served_nothing():
    manager = TaskManager(address=("127.0.0.1", 0), authkey=KEY)
    manager.start()
    try:
        intruder = TaskManager(address=manager.address, authkey=b"wrong")
        with pytest.raises(AuthenticationError):
            intruder.connect()
        assert manager._number_of_objects() == 0
    finally:
        manager.shutdown()


def test_bind_error_is_raised_by_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        manager = TaskManager(address=taken.getsockname(), authkey=KEY)
        with pytest.raises(OSError) as info:
            manager.start()
        assert info.value.errno == errno.EADDRINUSE
        manager.join(TIMEOUT)


def test_server_survives_bad_clients_and_serves_many():
    manager = CounterManager(address=("127.0.0.1", 0), authkey=KEY)
    manager.start()
    try:
        host, port = manager.address
        # Garbage, a truncated frame, an absurd length, an idle client.
        for junk in (b"GET / HTTP/1.0\r\n\r\n", struct.pack("!I", 50) + b"short",
                     struct.pack("!I", 0xFFFFFFFF) + struct.pack("!Q", 1 << 60)):
            with socket.create_connection((host, port)) as raw:
                raw.sendall(junk)
        idle = socket.create_connection((host, port))
        # An authenticated client that sends a frame that does not unpickle.
        conn = Client(manager.address, authkey=KEY)
        conn.send_bytes(b"\x80\x05not a pickle")
        kind, _ = conn.recv()
        assert kind == "#TRACEBACK"
        conn.close()

        counter = manager.Counter()
        errors: list = []

        def client(n_calls):
            try:
                local = CounterManager(address=manager.address, authkey=KEY)
                local.connect()
                proxy = manager.Counter()
                for _ in range(n_calls):
                    proxy.incr()
                counter.incr(n_calls)
                assert proxy._getvalue().value == n_calls
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(200,)) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        idle.close()
        assert not errors, errors[:3]
        assert counter.incr(0) == 50 * 200
    finally:
        manager.shutdown()


_ORPHAN = """
import sys, time
import mproc
if __name__ == "__main__":
    m = mproc.get_context(sys.argv[1]).Manager()
    print(m._process.pid, flush=True)
    time.sleep(60)
"""


def test_manager_process_dies_with_sigkilled_parent(tmp_path, start_method):
    script = tmp_path / "orphan_manager.py"
    script.write_text(_ORPHAN)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(os.path.dirname(os.path.dirname(__file__)), "src")
    parent = subprocess.Popen([sys.executable, str(script), start_method],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        pid = int(parent.stdout.readline())
        parent.kill()
        parent.wait(TIMEOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    break
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"
    finally:
        parent.kill()
        parent.wait(TIMEOUT)
        parent.stdout.close()


def _append_to_all(lists, go, done):
    done.put("started")  # our references were taken when we were forked
    go.wait(TIMEOUT)  # the parent has dropped its own proxies by now
    for lst in lists:
        lst.append("child")
    done.put(len(lists))


def test_forked_child_holds_its_own_references_to_many_proxies():
    ctx = mproc.get_context("fork")
    with ctx.Manager() as manager:
        lists = [manager.list() for _ in range(300)]
        go, done = manager.Event(), manager.Queue()
        proc = ctx.Process(target=_append_to_all, args=(lists, go, done))
        proc.start()
        assert done.get(timeout=TIMEOUT) == "started"
        idents = [proxy._id for proxy in lists]
        del lists  # only the child's references keep the lists alive now
        go.set()
        assert done.get(timeout=TIMEOUT) == 300
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
        assert len(idents) == 300


# -- the fast lane (channel.py): same protocol, same results, same errors ------------


class Unpicklable:
    def __reduce__(self):
        raise TypeError("this result cannot be pickled")


class Store:
    def __init__(self):
        self.data = {}

    def put(self, key, value=None, *, scale=1):
        self.data[key] = value if scale == 1 else value * scale

    def take(self, key):
        return self.data[key]

    def has(self, key):
        return key in self.data

    def bad(self):
        return Unpicklable()


class StoreManager(BaseManager):
    pass


StoreManager.register("Store", Store, exposed=("put", "take", "has", "bad", "missing"))
StoreManager.register("dict", dict, mproc.managers.DictProxy)
StoreManager.register("Iterator", proxytype=mproc.managers.IteratorProxy, create_method=False)

_BIG = bytes(range(256)) * 4096  # 1 MiB: longer than one read, both ways


def _fast_lane_client(store, d, results):
    from mproc._managers.channel import Channel

    out = []
    store.put("atom", 7)
    out.append(store.take("atom"))
    store.put("nested", {"a": [1, (2, 3)], "b": {4}})  # not atoms: the general pickler
    out.append(store.take("nested"))
    store.put("kw", value=3, scale=5)  # keyword arguments
    out.append(store.take("kw"))
    out.append((store.has("atom"), store.has("nope"), store.put("none")))
    store.put("big", _BIG)
    out.append(store.take("big") == _BIG)
    try:
        store.take("absent")
    except KeyError as exc:  # the method's own exception, re-raised
        out.append(("KeyError", exc.args))
    try:
        store.missing()
    except RemoteError as exc:  # exposed but not there: the server's traceback
        out.append(("RemoteError", "AttributeError" in str(exc)))
    try:
        store.bad()
    except RemoteError as exc:
        out.append(("Unserializable", "cannot be pickled" in str(exc)))
    out.append(store.take("atom"))  # the connection still serves after errors
    d["x"] = 1.5
    d[("t", 1)] = None
    out.append((d["x"], d[("t", 1)], sorted(map(str, d.keys()))))
    out.append(type(store._tls.connection) is Channel)
    results.send(out)
    results.close()


def test_fast_lane_results_and_errors_in_a_child(ctx):
    with StoreManager(ctx=ctx, shutdown_timeout=TIMEOUT) as manager:
        store, d = manager.Store(), manager.dict()
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_fast_lane_client, args=(store, d, writer))
        proc.start()
        writer.close()
        out = reader.recv()
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
        assert out == [
            7, {"a": [1, (2, 3)], "b": {4}}, 15, (True, False, None), True,
            ("KeyError", ("absent",)), ("RemoteError", True), ("Unserializable", True),
            7, (1.5, None, ["('t', 1)", "x"]), True,
        ]
        assert store.take("big") == _BIG and d["x"] == 1.5


def test_fast_lane_nested_proxies_and_callmethod():
    with mproc.get_context("fork").Manager() as manager:
        inner = manager.dict(a=1)
        outer = manager.list([inner, manager.list([1, 2])])
        assert outer[0]["a"] == 1 and outer[1][1] == 2
        outer[0]["b"] = None
        assert inner._callmethod("__getitem__", ("b",)) is None
        assert inner._callmethod("get", ("zz", "dflt")) == "dflt"
        assert inner._callmethod("setdefault", ("c",), {}) is None
        with pytest.raises(KeyError):
            inner._callmethod("__getitem__", ("nope",))
        with pytest.raises(RemoteError, match="not in exposed"):
            inner._callmethod("__class__")
        assert inner._getvalue() == {"a": 1, "b": None, "c": None}
        assert sorted(iter(inner)) == ["a", "b", "c"]  # the result is a proxy (#PROXY)
        assert str(inner) == repr({"a": 1, "b": None, "c": None})


def test_server_answers_pipelined_requests_in_order():
    with CounterManager(address=("127.0.0.1", 0), authkey=KEY,
                        shutdown_timeout=TIMEOUT) as manager:
        counter = manager.Counter()
        conn = Client(manager.address, authkey=KEY)
        try:
            for _ in range(50):  # many frames in one read on the server's side
                conn.send((counter._id, "incr", (2,), {}))
            conn.send((counter._id, "incr", (), {"by": 100}))
            replies = [conn.recv() for _ in range(51)]
        finally:
            conn.close()
        assert replies == [("#RETURN", 2 * n) for n in range(1, 51)] + [("#RETURN", 200)]


def test_xmlrpc_manager_keeps_the_general_path():
    from mproc._managers.channel import Channel

    with CounterManager(serializer="xmlrpclib", shutdown_timeout=TIMEOUT) as manager:
        counter = manager.Counter(1)
        assert counter.incr(2) == 3
        assert type(counter._tls.connection) is not Channel


@pytest.mark.parametrize("make", ["SharedMemory", "ShareableList"])
def test_a_shared_memory_manager_not_started_refuses_without_leaving_a_segment(make):
    from mproc.managers import SharedMemoryManager

    before = set(os.listdir("/dev/shm"))
    manager = SharedMemoryManager()
    with pytest.raises(ValueError):
        if make == "SharedMemory":
            manager.SharedMemory(size=9)
        else:
            manager.ShareableList(range(3))
    assert set(os.listdir("/dev/shm")) - before == set()
