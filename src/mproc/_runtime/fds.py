"""File-descriptor housekeeping shared by launchers and tests."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["close_all_fds_except", "max_fd"]


def max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 256


def close_all_fds_except(keep: Iterable[int]) -> None:
    """Close every fd of this process except those in ``keep``."""
    bounds = sorted({-1, *keep, max_fd()})
    for low, high in zip(bounds, bounds[1:], strict=False):
        if high - low > 1:
            os.closerange(low + 1, high)
