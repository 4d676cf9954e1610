"""A worker program for the demo's distributed task queue: it connects to the
manager by address and authkey only, takes tasks until none are left, and puts
(n, n*n) results. Run as ``python -m mproc._cli.demo_worker HOST PORT KEYHEX``."""

from __future__ import annotations

import queue
import sys

from mproc.managers import BaseManager


class _Remote(BaseManager):
    pass


_Remote.register("get_tasks")
_Remote.register("get_results")


def main(argv: list[str]) -> int:
    host, port, key = argv[0], int(argv[1]), bytes.fromhex(argv[2])
    manager = _Remote(address=(host, port), authkey=key)
    manager.connect()
    tasks = manager.get_tasks()  # type: ignore[attr-defined]
    results = manager.get_results()  # type: ignore[attr-defined]
    while True:
        try:
            n = tasks.get(timeout=0.5)
        except queue.Empty:
            return 0
        results.put((n, n * n))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
