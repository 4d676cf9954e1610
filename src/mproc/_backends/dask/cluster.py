"""Finding the cluster a dask pool runs on, and letting go of it.

``cluster`` may be a scheduler address (``"tcp://host:8786"``), a
``distributed.Client`` (the user's: never closed by the pool), a Dask cluster object
(``LocalCluster``, ``SSHCluster``...: a client is made for it and closed, the cluster
is left running), or None: ``DASK_SCHEDULER_ADDRESS`` / dask's ``scheduler-address``
setting if set, otherwise a ``LocalCluster`` on loopback (one single-threaded worker
process per usable CPU) that the pool starts and stops. ``MPROC_CLUSTER`` is how
``python -m mproc run --cluster ADDRESS`` hands its address to every Pool of an
unmodified program.

``distributed`` is imported here, on first use, and only here and in the modules
that run on the workers.
"""

from __future__ import annotations

import logging
import os

from ...errors import ClusterConnectionError
from ..base import describe_exception

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["import_distributed", "Connection", "connect", "ENV_CLUSTER"]

ENV_CLUSTER = "MPROC_CLUSTER"
INSTALL_HINT = "pip install 'pymproc[dask]'"


def import_distributed() -> Any:
    """The ``distributed`` module, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"Pool(backend='dask') needs Dask's distributed scheduler, which is not "
            f"installed: {INSTALL_HINT} (or pip install distributed)") from exc
    return distributed


def connect_timeout() -> float:
    """Dask's connect timeout (``distributed.comm.timeouts.connect``), in seconds."""
    import dask
    from dask.utils import parse_timedelta

    value = dask.config.get("distributed.comm.timeouts.connect", "30s")
    return float(parse_timedelta(value, default="seconds"))


class Connection:
    """A client, and what the pool made to get it (closed with the pool)."""

    def __init__(self, client: Any, owns_client: bool, cluster: Any = None) -> None:
        self.client = client
        self.owns_client = owns_client
        self.cluster = cluster  # a LocalCluster the pool started, or None

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    def close(self) -> None:
        if self.owns_client:
            try:
                self.client.close(timeout=5)
            except Exception:
                pass
        if self.cluster is not None:
            try:
                self.cluster.close(timeout=5)
            except Exception:
                pass


def _configured_address() -> str | None:
    address = os.environ.get(ENV_CLUSTER) or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return address
    import dask

    configured = dask.config.get("scheduler-address", None)
    return str(configured) if configured else None


def _probe(address: str, timeout: float) -> None:
    """Connect to a TCP scheduler address once, on a loop of our own.

    A ``distributed.Client`` that cannot connect keeps its event-loop thread and
    three fds for good (distributed 2026.8), so an address is tried this way first;
    other schemes (tls://, ucx://) need their security settings and go straight to
    the Client.
    """
    import asyncio

    from distributed.comm import connect

    async def attempt() -> None:
        comm = await connect(address, timeout=timeout)
        await comm.close()

    asyncio.run(attempt())


def _client_for(distributed: Any, address: Any, what: str) -> Any:
    timeout = connect_timeout()
    try:
        if isinstance(address, str) and (address.startswith("tcp://") or "://" not in address):
            _probe(address, timeout)
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterConnectionError(
            f"cannot reach the Dask scheduler of {what} within the connect timeout "
            f"({timeout:g} s): {describe_exception(exc)}. Check that a scheduler runs "
            f"there (`dask scheduler`), that the address and port are right, and that "
            f"no firewall is in the way; the timeout is dask's "
            f"distributed.comm.timeouts.connect") from exc


def _local_cluster(distributed: Any, workers: int) -> Connection:
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", silence_logs=logging.WARNING)
    try:
        client = distributed.Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return Connection(client, True, cluster)


def connect(cluster: Any, local_workers: int = 0) -> Connection:
    """A connection to ``cluster`` (see the module docstring for what it may be);
    a LocalCluster has ``local_workers`` workers (0: one per usable CPU)."""
    distributed = import_distributed()
    if cluster is None:
        address = _configured_address()
        if address is None:
            return _local_cluster(distributed, local_workers or len(os.sched_getaffinity(0)))
        cluster = address
    if isinstance(cluster, distributed.Client):
        return Connection(cluster, False)
    if isinstance(cluster, str):
        return Connection(_client_for(distributed, cluster, f"{cluster!r}"), True)
    if hasattr(cluster, "scheduler_address"):
        return Connection(_client_for(distributed, cluster, repr(cluster)), True)
    raise TypeError(
        f"cluster must be a scheduler address such as 'tcp://host:8786', a "
        f"distributed.Client, a Dask cluster object or None, not {type(cluster).__name__}")


def total_threads(connection: Connection, timeout: float) -> int:
    """The cluster's worker threads, waiting up to ``timeout`` for a first worker."""
    client = connection.client
    threads = sum(client.nthreads().values())
    if threads:
        return int(threads)
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterConnectionError(
            f"the Dask scheduler at {connection.address} has no workers, and none "
            f"joined within {timeout:g} s; start some (`dask worker "
            f"{connection.address}`) or pass processes=N to wait for them") from exc
    return max(1, int(sum(client.nthreads().values())))
