"""A worker of the TLS task queue: ``python tls_worker.py HOST PORT CERT``.

Connects to the server by address, authkey (MPROC_AUTHKEY, hex) and the server's
certificate CERT, which it trusts; takes numbers from ``tasks`` and puts
``(n, n * n)`` on ``results`` until no task has come for a second.
"""

import os
import queue
import ssl
import sys

from mproc.managers import BaseManager


class TaskQueue(BaseManager):
    pass


TaskQueue.register("get_tasks")
TaskQueue.register("get_results")

if __name__ == "__main__":
    host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    client_context = ssl.create_default_context(cafile=cafile)  # verifies the host name too
    manager = TaskQueue(address=(host, port), authkey=bytes.fromhex(os.environ["MPROC_AUTHKEY"]),
                        ssl_context=client_context)
    manager.connect()
    tasks, results = manager.get_tasks(), manager.get_results()
    while True:
        try:
            n = tasks.get(timeout=1)
        except queue.Empty:
            break
        results.put((n, n * n))
