"""``python -m mproc bench``: the benchmark suite of a source checkout."""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["bench", "find_benchmarks"]


def find_benchmarks() -> str | None:
    """The repository root holding ``benchmarks/`` next to ``src/mproc``, if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    if os.path.isfile(os.path.join(root, "benchmarks", "harness.py")):
        return root
    return None


def bench(args: list[str]) -> int:
    root = find_benchmarks()
    if root is None:
        sys.stderr.write(
            "python -m mproc bench: error: the benchmark suite ships with the source "
            "repository; run this from an editable install of a checkout "
            "(pip install -e .)\n")
        return 2
    return subprocess.call([sys.executable, "-m", "benchmarks", *args], cwd=root)
