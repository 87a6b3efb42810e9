"""examples/redis_forwarding.py runs end to end against a real Redis server."""

from __future__ import annotations

import pytest

from tests.examples import _run
from tests.servers.redis_server import free_port

pytestmark = pytest.mark.broker


def test_example_routes_events_to_two_streams_and_reads_them_back(redis_url: str) -> None:
    """Each stream holds its events, decoded back; the readiness probe says 200."""
    result = _run.run_example("redis_forwarding.py", "REDIS_URL", REDIS_URL=redis_url)
    assert result.returncode == 0, result.stderr
    assert "GET /healthz -> 200 True" in result.stdout
    read = [line.split()[1:3] for line in result.stdout.splitlines() if line.startswith("read")]
    assert read == [
        ["user", "user.signed_up"],
        ["order", "order.placed"],
        ["order", "order.paid"],
        ["order", "order.placed"],
        ["order", "order.paid"],
    ]


def test_example_without_redis_says_what_to_do() -> None:
    """With nothing listening, the probe answers 503 and the example names the fix."""
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    result = _run.run_example("redis_forwarding.py", "REDIS_URL", REDIS_URL=url)
    assert result.returncode == 1
    assert "GET /healthz -> 503 False" in result.stdout
    assert "set REDIS_URL" in result.stderr
    assert ":pw@" not in result.stderr
