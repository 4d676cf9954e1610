"""A task queue served over TLS: ``python tls_server.py HOST PORT CERT KEY``.

Serves two queues, ``tasks`` and ``results``, to any program that presents the
authkey (the hex string in the MPROC_AUTHKEY environment variable) over TLS with the
certificate CERT (and its private key KEY). Prints the address it listens on, then
serves until it is stopped.
"""

import os
import queue
import ssl
import sys

from mproc.managers import BaseManager

tasks: queue.Queue = queue.Queue()
results: queue.Queue = queue.Queue()


class TaskQueue(BaseManager):
    pass


TaskQueue.register("get_tasks", callable=lambda: tasks)
TaskQueue.register("get_results", callable=lambda: results)

if __name__ == "__main__":
    host, port, certfile, keyfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certfile, keyfile)
    manager = TaskQueue(address=(host, port), authkey=bytes.fromhex(os.environ["MPROC_AUTHKEY"]),
                        server_ssl_context=server_context)
    server = manager.get_server()
    host, port = server.address
    print(f"listening on {host}:{port}", flush=True)
    server.serve_forever()
