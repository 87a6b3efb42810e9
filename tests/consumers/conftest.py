"""Fixtures of the consumer tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.consumers.e2e_kit import Harness


@pytest.fixture
def e2e(tmp_path: Path) -> Iterator[Harness]:
    """Starts app A and workers (tests/consumers/e2e_kit.py); stops them after the test."""
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        harness.close()
