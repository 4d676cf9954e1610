"""How many CPUs this process may actually use: the default size of a Pool.

``os.cpu_count()`` counts the machine's CPUs. A process pinned to some of them
(``taskset``, ``sched_setaffinity``) or limited by a cgroup CPU quota (a container
started with ``--cpus=2``, a Kubernetes CPU limit, a systemd ``CPUQuota=``) gets less;
a pool sized by the machine's count then runs more workers than it has CPUs, and
they only slow each other down. The usable count is the smallest of:

* the CPUs in this process's affinity mask;
* the cgroup v2 quota, ``cpu.max`` = ``"$QUOTA $PERIOD"``, at this process's cgroup
  and at every ancestor (a parent's limit applies to its children), rounded up;
* the cgroup v1 quota, ``cpu.cfs_quota_us / cpu.cfs_period_us``, likewise.

Every read is best effort: a file that is missing or unreadable means "no limit".
"""

from __future__ import annotations

import math
import os

__all__ = ["usable_cpu_count", "cgroup_cpu_limit"]

_CGROUP_ROOT = "/sys/fs/cgroup"


def _read(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read()
    except (OSError, ValueError):
        return None


def _ancestors(root: str, relative: str) -> list[str]:
    """``root/relative`` and each of its parents up to ``root`` itself."""
    parts = [p for p in relative.split("/") if p]
    return [os.path.join(root, *parts[:n]) for n in range(len(parts), -1, -1)]


def _v2_limit(relative: str) -> float | None:
    best: float | None = None
    for directory in _ancestors(_CGROUP_ROOT, relative):
        text = _read(os.path.join(directory, "cpu.max"))
        if not text:
            continue
        fields = text.split()
        if len(fields) != 2 or fields[0] == "max":
            continue
        try:
            quota, period = int(fields[0]), int(fields[1])
        except ValueError:
            continue
        best = _tighter(best, quota, period)
    return best


def _tighter(best: float | None, quota: int, period: int) -> float | None:
    """``best`` lowered to ``quota / period`` when that is a limit (both positive)."""
    if quota > 0 and period > 0:
        limit = quota / period
        return limit if best is None else min(best, limit)
    return best


def _v1_limit(controllers: str, relative: str) -> float | None:
    best: float | None = None
    mounts = [os.path.join(_CGROUP_ROOT, controllers), os.path.join(_CGROUP_ROOT, "cpu")]
    for mount in dict.fromkeys(mounts):
        for directory in _ancestors(mount, relative):
            quota_text = _read(os.path.join(directory, "cpu.cfs_quota_us"))
            period_text = _read(os.path.join(directory, "cpu.cfs_period_us"))
            try:
                quota = int(quota_text or "-1")
                period = int(period_text or "0")
            except ValueError:
                continue
            best = _tighter(best, quota, period)
    return best


def cgroup_cpu_limit() -> float | None:
    """The CPU quota of this process's cgroup, in CPUs (e.g. 1.5), or None."""
    text = _read("/proc/self/cgroup")
    if not text:
        return None
    limits: list[float] = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _hierarchy, controllers, relative = fields
        if controllers == "":
            limit = _v2_limit(relative)
        elif "cpu" in controllers.split(","):
            limit = _v1_limit(controllers, relative)
        else:
            continue
        if limit is not None:
            limits.append(limit)
    return min(limits) if limits else None


def usable_cpu_count() -> int:
    """CPUs this process may run on, after affinity and cgroup quota (at least 1)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        count = min(count, max(1, math.ceil(limit)))
    return max(1, count)
