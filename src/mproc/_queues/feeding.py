"""The sending side of a queue in one process: direct writes, a feeder thread for
when the channel is full, and setting items aside when the process leaves.

``put()`` writes its packet itself when nothing is waiting before it, so the usual
path has no thread handoff at all. When the channel is full it waits a few
milliseconds for room (a fast producer then simply runs at its consumer's pace),
and after that hands the packet to a *pending* list drained by a feeder thread,
so ``put()`` never blocks on a reader. One lock orders direct writes against the
feeder's, which keeps items FIFO per producer.

When the process exits (or ``join_thread()`` is called) whatever is still pending
is written to the store as one batch and announced with a single SPILL notice, on
main if it has room and on the overflow channel otherwise. Exit therefore never
waits for a reader, which is what makes joining a child before draining its queue
safe, and nothing put is lost. Readers take SPILL batches only once main is empty
(see ``receiving.py``), so a producer's set-aside items still come after the ones
it wrote to main.
"""

from __future__ import annotations

import collections
import os
import threading
import time
import weakref

from .._runtime.finalize import Finalize
from . import codec
from .transport import write_blocking

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .store import Store
    from .transport import Pipes

__all__ = ["Sender"]

PACE = 0.002  # seconds put() waits for room before leaving the packet to the feeder
_FEEDER_POLL = 0.1  # seconds between the feeder's checks for a stop request when blocked

_live: weakref.WeakSet[Sender] = weakref.WeakSet()
_hook_pid = -1


def _flush_all_at_exit() -> None:
    pid = os.getpid()
    for sender in list(_live):
        if sender._pid != pid:  # inherited through a bare fork: the parent's
            continue
        try:
            sender.finish(spill=True)
        except Exception:  # one broken queue must not keep the others' items
            import traceback

            traceback.print_exc()


def _ensure_exit_hook() -> None:
    """One finalizer per process flushes every live sender at exit (priority 10:
    before children are joined, so nobody waits on anybody)."""
    global _hook_pid
    pid = os.getpid()
    if _hook_pid != pid:
        _hook_pid = pid
        Finalize(None, _flush_all_at_exit, exitpriority=10)


class Sender:
    """Writes one process's packets to a queue's main channel, in order."""

    def __init__(self, pipes: Pipes, store: Store) -> None:
        self._pipes = pipes
        self._store = store
        self._lock = threading.Lock()
        self._pending: collections.deque[bytes] = collections.deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = False  # no more puts: stop once pending is written
        self._done = False  # finished: nothing more is ever written
        self._drop = False  # cancel_join_thread(): pending may be dropped at exit
        self._pid = os.getpid()
        _ensure_exit_hook()
        _live.add(self)

    # -- put() side ----------------------------------------------------------

    def send(self, packet: bytes) -> None:
        # Unlocked fast path: the feeder pops a packet only after writing it, so an
        # empty pending list means nothing of ours is waiting; a direct write now
        # cannot overtake an earlier item of this thread.
        if not self._pending and not self._done:
            try:
                os.write(self._pipes.main_w, packet)
                return
            except BlockingIOError:
                pass
        with self._lock:
            if self._done:
                self._send_late(packet)
                return
            if not self._pending:
                try:
                    os.write(self._pipes.main_w, packet)
                    return
                except BlockingIOError:
                    pass
                if self._pace(packet):
                    return
            self._pending.append(packet)
            if self._thread is None:
                self._start()
            else:
                self._wake.set()

    def _send_late(self, packet: bytes) -> None:
        """A put after this sender finished (from another exit handler, say): write
        it, or set it aside on its own; there is no feeder any more."""
        pipes = self._pipes
        if self._closing or pipes.main_w < 0:
            raise ValueError("the queue was closed in this process")
        try:
            os.write(pipes.main_w, packet)
        except BlockingIOError:
            notice = codec.spill([packet], self._store)
            try:
                os.write(pipes.main_w, notice)
            except BlockingIOError:
                write_blocking(pipes.over_w, notice)

    def _pace(self, packet: bytes) -> bool:
        """Wait up to PACE for room on main and write there; False on timeout."""
        pipes = self._pipes
        fd = pipes.main_w
        deadline = time.monotonic() + PACE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not pipes.wait_writable(remaining):
                return False
            try:
                os.write(fd, packet)
                return True
            except BlockingIOError:
                continue

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._feed, name="QueueFeederThread",
                                        daemon=True)
        self._thread.start()

    # -- the feeder thread ----------------------------------------------------

    def _feed(self) -> None:
        while True:
            with self._lock:
                if self._done:
                    return
                try:
                    self._drain_locked()
                except BrokenPipeError:
                    # Every reader is gone (e.g. a broken pool's workers): nothing
                    # pending can ever be delivered, and nobody is told in a thread.
                    self._finish_locked(spill=False)
                    return
                if not self._pending:
                    if self._closing:
                        self._finish_locked(spill=False)
                        return
                    self._wake.clear()
                    idle = True
                else:
                    idle = False
                fd = self._pipes.main_w
            if idle:
                self._wake.wait()
            elif fd >= 0:
                self._pipes.wait_writable(_FEEDER_POLL)

    def _drain_locked(self) -> None:
        pending, fd = self._pending, self._pipes.main_w
        while pending:
            try:
                os.write(fd, pending[0])
            except BlockingIOError:
                return
            pending.popleft()

    # -- ending ----------------------------------------------------------------

    def close(self) -> None:
        """No more puts from this process; pending items are still delivered."""
        with self._lock:
            if self._done:
                return
            self._closing = True
            if not self._pending:
                self._finish_locked(spill=False)
        self._wake.set()  # an idle feeder exits; a busy one finishes, then exits

    def cancel(self) -> None:
        """cancel_join_thread(): at exit, do not wait for anything, drop what is left."""
        self._drop = True

    def finish(self, spill: bool) -> None:
        """Write what fits, set the rest aside (or drop it), and stop; never waits
        for a reader."""
        with self._lock:
            if self._done:
                return
            self._finish_locked(spill)
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _finish_locked(self, spill: bool) -> None:
        self._done = True
        pipes, store, pending = self._pipes, self._store, self._pending
        try:
            if pipes.main_w >= 0 and pending:
                try:
                    self._drain_locked()
                except BrokenPipeError:
                    spill = False  # no reader is left to take anything
                if pending and spill and not self._drop:
                    notice = codec.spill(list(pending), store)
                    pending.clear()
                    try:
                        os.write(pipes.main_w, notice)
                    except BlockingIOError:
                        write_blocking(pipes.over_w, notice)
        finally:
            for packet in pending:
                codec.discard(packet, store)
            pending.clear()
            store.drop_cache()
            _live.discard(self)
        if self._closing:
            pipes.close()

    def after_fork(self) -> None:
        """In a forked child: this sender belongs to the parent; make it inert."""
        self._lock = threading.Lock()
        self._pending = collections.deque()
        self._thread = None
        self._done = True
        _live.discard(self)
