"""Manager workloads: dict proxy get/set rate from a child process."""

from __future__ import annotations

from benchmarks import _children
from benchmarks.harness import Measurement, workload


@workload("manager.dict_proxy", target=3.0, unit="calls/s", params={"n": 5000},
          quick={"n": 200})
def manager_dict_proxy(mp, n: int) -> Measurement:
    """A child process does n __setitem__ + n __getitem__ on a Manager().dict() proxy."""
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        proxy = manager.dict()
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_children.dict_proxy_calls, args=(proxy, n, writer))
        proc.start()
        writer.close()
        seconds = reader.recv()
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"child exited with {proc.exitcode}")
        if proxy[(n - 1) % 64] != n - 1:
            raise RuntimeError("the dict does not hold what the child wrote")
    return Measurement(units=2 * n, seconds=seconds)
