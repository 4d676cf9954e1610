"""Client side of a batch: how many tasks go in one Dask task, and how they travel.

Dask spends about 1-2 ms on every task it schedules, so one pool task per Dask task
would make a map of tiny items a thousand times slower than a local pool. The
dispatcher therefore packs consecutive tasks of one function into a *batch* meant to
run for about ``TARGET_SECONDS``, from what earlier batches of that function took
(``Sizer``); before any has come back, the first batch is a single task (a probe)
and the time it has been out so far bounds the estimate from below, so a function
whose calls take seconds is never packed by a guess. A batch is also capped so that
every thread of the cluster gets work.

``encode`` pickles a batch with cloudpickle and mproc's reducers: functions and classes of
``__main__`` always travel by value (a Dask worker's ``__main__`` is Dask's, not the
user's script), and that large ``bytes``/``bytearray``/numpy arrays, wherever they
sit (arguments, items, a closure's cells), are scattered to every worker once
(``Scatterer``) and pickled as a reference to that copy, reused by later batches and
calls while the object lives.
"""

from __future__ import annotations

import collections
import functools
import io
import threading
import time
import types
import weakref

import cloudpickle

from ..._runtime import log
from ..._serialize.pickler import reducer_table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..base import Task

__all__ = ["Sizer", "Scatterer", "encode", "dumps_by_value", "TARGET_SECONDS",
           "SCATTER_BYTES"]

TARGET_SECONDS = 0.2     # how long one batch should run on a worker
PROBE_WAIT = 0.02        # how long later batches wait for the probe's timing
SMALL_SHARE = 8          # items per batch below which the probe is not waited for
SCATTER_BYTES = 1 << 20  # objects this large are scattered, not pickled into the batch
_KEEP_UNREFERENCEABLE = 8  # bytes objects (no weakrefs) whose copies are kept, newest


class Sizer:
    """Seconds per item of each function, learned from the batches that came back."""

    def __init__(self) -> None:
        self._per_item: collections.OrderedDict[int, float] = collections.OrderedDict()
        self._probes: dict[int, tuple[float, int]] = {}  # fid -> (sent at, items)

    @staticmethod
    def key(task: Task) -> int:
        return id(task.func)

    def estimate(self, fid: int) -> float | None:
        """Seconds per item (None: nothing known and no probe out)."""
        known = self._per_item.get(fid)
        if known is not None:
            return known
        probe = self._probes.get(fid)
        if probe is None:
            return None
        sent, items = probe
        return max(time.monotonic() - sent, 1e-6) / max(1, items)  # a lower bound

    def waiting_for_probe(self, fid: int, pending_items: int = 0, threads: int = 1) -> float:
        """Seconds the dispatcher should still wait for the probe of ``fid`` (0: none).

        None when the rest is small (at most ``SMALL_SHARE`` items per batch at two
        batches per thread): any guess is then off by a few items at most, and the
        probe's round trip would cost more than it could save.
        """
        if fid in self._per_item or fid not in self._probes:
            return 0.0
        if -(-pending_items // max(1, 2 * threads)) <= SMALL_SHARE:
            return 0.0
        return max(0.0, self._probes[fid][0] + PROBE_WAIT - time.monotonic())

    def probe(self, fid: int, items: int) -> None:
        self._probes[fid] = (time.monotonic(), items)

    def learn(self, fid: int, seconds: float, items: int) -> None:
        if items <= 0:
            return
        sample = max(seconds, 1e-7) / items
        old = self._per_item.pop(fid, None)
        self._per_item[fid] = sample if old is None else 0.5 * old + 0.5 * sample
        self._probes.pop(fid, None)
        while len(self._per_item) > 256:
            self._per_item.popitem(last=False)

    def batch_items(self, fid: int, pending_items: int, threads: int, free: int) -> int:
        """How many items the next batch of ``fid`` should hold (at least one task),
        with ``free`` of the cluster's ``threads`` idle."""
        estimate = self.estimate(fid)
        if estimate is None:
            return 1
        wanted = max(1, int(TARGET_SECONDS / estimate))
        if fid in self._per_item and pending_items * estimate <= TARGET_SECONDS * threads:
            # little work left, by a measured estimate (not the probe's lower bound):
            # one batch for each idle thread, at once (finer only adds round trips)
            return max(1, min(wanted, -(-pending_items // max(1, free))))
        share = -(-pending_items // max(1, 2 * threads))  # two batches per thread at least
        return max(1, min(wanted, share))


class Scatterer:
    """Large objects copied to every worker once, by identity, while they live.

    Sent straight to a worker, which the scheduler then has copy it to the others
    (``direct=True``), not relayed through the scheduler: the relay adds a hop of
    the whole object through the scheduler's event loop, which made a 100 MiB
    broadcast take 0.15-0.5 s, where direct takes 0.10-0.14 s. A client made with
    ``direct_to_workers=False`` (workers it cannot reach) keeps the relay, and so
    does this pool once a direct send has failed.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._direct = getattr(client, "direct_to_workers", None) is not False
        self._lock = threading.Lock()
        self._by_id: dict[int, tuple[Any, Any]] = {}  # id -> (weakref or object, future)
        self._strong: collections.deque[int] = collections.deque()

    def future_for(self, obj: Any) -> Any:
        key = id(obj)
        with self._lock:
            kept = self._by_id.get(key)
            if kept is not None:
                holder, future = kept
                alive = holder() if isinstance(holder, weakref.ref) else holder
                if alive is obj:
                    return future
        future = self._scatter(obj)
        forget: Any = functools.partial(self._forget, key)
        try:
            holder = weakref.ref(obj, forget)
        except TypeError:  # bytes: keep the newest few alive with their copies
            holder = obj
        with self._lock:
            self._by_id[key] = (holder, future)
            if not isinstance(holder, weakref.ref):
                self._strong.append(key)
                while len(self._strong) > _KEEP_UNREFERENCEABLE:
                    self._by_id.pop(self._strong.popleft(), None)
        return future

    def _scatter(self, obj: Any) -> Any:
        if self._direct:
            try:
                return self._client.scatter(obj, broadcast=True, hash=False, direct=True)
            except (OSError, TimeoutError) as exc:  # CommClosedError is an OSError
                self._direct = False
                log.info("mproc: scattering straight to the Dask workers failed (%s); "
                         "this pool relays through the scheduler from now on", exc)
        return self._client.scatter(obj, broadcast=True, hash=False)

    def _forget(self, key: int, _ref: Any = None) -> None:
        with self._lock:
            kept = self._by_id.get(key)
            if kept is not None and isinstance(kept[0], weakref.ref) and kept[0]() is None:
                del self._by_id[key]

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()
            self._strong.clear()


def _size_of(obj: Any) -> int:
    kind = type(obj)
    if kind is bytes or kind is bytearray:
        return len(obj)
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        return int(obj.nbytes)
    return 0


class _BatchPickler(cloudpickle.Pickler):
    """cloudpickle (``__main__`` and closures by value, as a Dask worker needs: its
    ``__main__`` is Dask's, not the user's script) with mproc's reducers, and large
    buffers anywhere (arguments, items, a closure's cells) as scattered references."""

    def __init__(self, file: Any, scatterer: Scatterer | None) -> None:
        super().__init__(file, protocol=5)
        self.dispatch_table = collections.ChainMap(reducer_table(),
                                                   cloudpickle.Pickler.dispatch_table)
        self.scatterer = scatterer
        self.futures: list[Any] = []
        self._index: dict[int, int] = {}

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is types.MethodType:
            # as pickle does, by name on the pickled owner: cloudpickle would copy the
            # function's code by value, and its tracebacks would lose their source lines
            return getattr, (obj.__self__, obj.__func__.__name__)
        # A manager proxy travels with its authkey (it would not work remotely without)
        reduce_for_cluster = getattr(type(obj), "__reduce_for_cluster__", None)
        if reduce_for_cluster is not None and not isinstance(obj, type):
            return reduce_for_cluster(obj)
        return super().reducer_override(obj)

    def persistent_id(self, obj: Any) -> Any:
        if self.scatterer is None or _size_of(obj) < SCATTER_BYTES:
            return None
        index = self._index.get(id(obj))
        if index is None:
            index = self._index[id(obj)] = len(self.futures)
            self.futures.append(self.scatterer.future_for(obj))
        return index


def encode(tasks: list[Task], scatterer: Scatterer) -> tuple[bytes, list[Any]]:
    """The blob ``remote.run_batch`` unpickles, and the futures it refers to."""
    specs = []
    for task in tasks:
        job = task.job
        specs.append((task.func, task.mode, task.payload, task.timeout, task.index, task.first,
                      getattr(job, "_kind", "task"), getattr(job, "_job", "?")))
    buf = io.BytesIO()
    batch_pickler = _BatchPickler(buf, scatterer)
    batch_pickler.dump(specs)
    return buf.getvalue(), batch_pickler.futures


def dumps_by_value(obj: Any) -> bytes:
    """``obj`` pickled as a batch is, with nothing scattered (an initializer)."""
    buf = io.BytesIO()
    _BatchPickler(buf, None).dump(obj)
    return buf.getvalue()


