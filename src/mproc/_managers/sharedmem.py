"""SharedMemoryManager: a manager that unlinks every segment made through it at
shutdown, so a program that forgets to unlink leaks nothing."""

from __future__ import annotations

import threading

from .manager import BaseManager
from .protocol import dispatch
from .server import Server

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["SharedMemoryManager", "SharedMemoryServer"]


class SharedMemoryServer(Server):
    """A manager server that also remembers shared-memory segment names."""

    public = (*Server.public, "track_segment", "release_segment", "list_segments")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.segment_names: list[str] = []
        self._segments_lock = threading.Lock()

    def track_segment(self, conn: Any, segment_name: str) -> None:
        with self._segments_lock:
            self.segment_names.append(segment_name)

    def release_segment(self, conn: Any, segment_name: str) -> None:
        from ..shared_memory import SharedMemory

        with self._segments_lock:
            if segment_name in self.segment_names:
                self.segment_names.remove(segment_name)
        try:
            segment = SharedMemory(segment_name)
        except FileNotFoundError:
            return
        segment.close()
        segment.unlink()

    def list_segments(self, conn: Any) -> list[str]:
        with self._segments_lock:
            return list(self.segment_names)

    def shutdown(self, conn: Any) -> None:
        for name in self.list_segments(conn):
            self.release_segment(conn, name)
        super().shutdown(conn)


class SharedMemoryManager(BaseManager):
    """Creates SharedMemory and ShareableList objects that are unlinked at shutdown."""

    _Server = SharedMemoryServer

    def start(self, initializer: Any = None, initargs: Any = ()) -> None:
        """Start the manager's server process (``initializer(*initargs)`` first there)."""
        # The server must share this process's resource tracker, so that what it
        # unlinks at shutdown is also struck from the tracker's list.
        from .._shm.tracker import ensure_running

        ensure_running()
        super().start(initializer, initargs)

    def get_server(self) -> Server:
        """A Server for this manager, to run in this process with ``serve_forever()``."""
        if self._state.value != 0:
            self._raise_for_state()
        return SharedMemoryServer(self._registry, self._address, self._authkey, self._serializer)

    def SharedMemory(self, size: int) -> Any:  # noqa: N802 - stdlib name
        """A new SharedMemory block of ``size`` bytes, tracked by this manager."""
        from ..shared_memory import SharedMemory

        return self._track(lambda: SharedMemory(None, create=True, size=size))

    def ShareableList(self, sequence: Any) -> Any:  # noqa: N802 - stdlib name
        """A new ShareableList, tracked by this manager."""
        from ..shared_memory import ShareableList

        shareables: list[Any] = []

        def make() -> Any:
            shareables.append(ShareableList(sequence))
            return shareables[0].shm

        self._track(make)
        return shareables[0]

    def _track(self, make: Callable[[], Any]) -> Any:
        """``make()`` a segment and have the server track it. The server is reached
        first: a manager that was not started (or has stopped) raises before any
        segment exists, so none is left behind."""
        conn = self._Client(self._address, authkey=self._authkey)
        try:
            segment = make()
            try:
                dispatch(conn, None, "track_segment", (segment.name,))
            except BaseException:
                segment.unlink()
                raise
        finally:
            conn.close()
        return segment
