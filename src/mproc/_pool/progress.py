"""Progress reporting for map, starmap, imap and imap_unordered.

``progress=True`` draws a tqdm bar (tqdm is an optional extra: ``pip install
pymproc[progress]``); a callable is called as ``progress(done, total)`` after each
finished chunk, with ``total`` None while a lazy input's length is unknown. Both are
updated from the thread that delivers results (the pool's supervisor), so a
callable must be quick and thread-safe. A callable that raises is reported once on
stderr and then no longer called: progress reporting never breaks the work.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    # What ``progress=`` accepts: True (a tqdm bar), False/None (nothing), or a
    # callable ``progress(done, total)`` (``total`` None while a lazy input's
    # length is unknown).
    ProgressArg = bool | Callable[[int, int | None], object] | None

__all__ = ["Progress", "make_progress", "INSTALL_HINT"]

INSTALL_HINT = "pip install pymproc[progress]"


class Progress:
    """Counts finished items and reports them to a callable or a tqdm bar."""

    def __init__(self, report: Any, total: int | None, bar: Any = None) -> None:
        self._lock = threading.Lock()
        self._report = report
        self._bar = bar
        self.done: int = 0
        self.total: int | None = total
        self._closed = False

    def update(self, count: int) -> None:
        with self._lock:
            if self._closed:
                return
            self.done += count
            if self._bar is not None:
                self._bar.update(count)
            elif self._report is not None:
                self._call()

    def set_total(self, total: int) -> None:
        with self._lock:
            if self.total == total:
                return
            self.total = total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()
            elif self._report is not None and not self._closed:
                self._call()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._bar is not None:
                self._bar.close()

    def _call(self) -> None:
        try:
            self._report(self.done, self.total)
        except Exception:
            import traceback

            self._report = None
            sys.stderr.write("progress callback raised; it will not be called again:\n")
            traceback.print_exc()


def make_progress(progress: Any, total: int | None, description: str) -> Progress | None:
    """A Progress for the ``progress=`` argument (None, True, or a callable)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            raise ImportError(
                f"progress=True draws a tqdm progress bar, and tqdm is not installed; "
                f"install it with: {INSTALL_HINT}  (or pass a callable "
                f"progress(done, total) instead)"
            ) from None
        return Progress(None, total, tqdm(total=total, desc=description, unit="task"))
    if callable(progress):
        return Progress(progress, total)
    raise TypeError(f"progress must be True, False, None or a callable, not {progress!r}")
