"""pytest hooks for the conformance suite (the pytest entry is tests/test_conformance.py)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance: runs CPython's test._test_multiprocessing against mproc (slow)",
    )
