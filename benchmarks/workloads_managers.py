"""Manager workloads: proxy call rates from a child process (dict, list, object values)."""

from __future__ import annotations

from benchmarks import _children
from benchmarks.harness import Measurement, workload


@workload("manager.dict_proxy", target=3.0, unit="calls/s", params={"n": 5000},
          quick={"n": 200})
def manager_dict_proxy(mp, n: int) -> Measurement:
    """A child process does n __setitem__ + n __getitem__ on a Manager().dict() proxy."""
    return _child_rate(mp, _children.dict_proxy_calls, lambda manager: manager.dict(), n,
                       lambda proxy: proxy[(n - 1) % 64] == n - 1)


def _child_rate(mp, target, proxy_of, n: int, check) -> Measurement:
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        proxy = proxy_of(manager)
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=target, args=(proxy, n, writer))
        proc.start()
        writer.close()
        seconds = reader.recv()
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"child exited with {proc.exitcode}")
        if not check(proxy):
            raise RuntimeError("the managed object does not hold what the child wrote")
    return Measurement(units=2 * n, seconds=seconds)


@workload("manager.list_proxy", target=3.0, unit="calls/s", params={"n": 5000},
          quick={"n": 200})
def manager_list_proxy(mp, n: int) -> Measurement:
    """A child process does n append() + n __getitem__ on a Manager().list() proxy."""
    return _child_rate(mp, _children.list_proxy_calls, lambda m: m.list(), n,
                       lambda proxy: len(proxy) == n + 1 and proxy[n] == n - 1)


@workload("manager.dict_proxy.objects", target=3.0, unit="calls/s", params={"n": 5000},
          quick={"n": 200})
def manager_dict_proxy_objects(mp, n: int) -> Measurement:
    """A child does n d[k] = (i, str, [i]) + n d.get(k, None): values the general pickler takes."""
    last = n - 1
    return _child_rate(mp, _children.dict_proxy_object_calls, lambda m: m.dict(), n,
                       lambda proxy: proxy[last % 64] == (last, "value", [last]))
