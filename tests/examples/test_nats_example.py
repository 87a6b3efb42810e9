"""examples/nats_forwarding.py runs end to end against a real NATS server with JetStream."""

from __future__ import annotations

import pytest

from tests.examples import _run
from tests.servers.redis_server import free_port

pytestmark = pytest.mark.broker


def test_example_routes_events_to_two_subjects_and_reads_them_back(nats_url: str) -> None:
    """The stream holds each event on its subject, decoded back; the probe says 200."""
    result = _run.run_example("nats_forwarding.py", "NATS_URL", NATS_URL=nats_url)
    assert result.returncode == 0, result.stderr
    assert "GET /healthz -> 200 True" in result.stdout
    read = [line.split()[1:3] for line in result.stdout.splitlines() if line.startswith("read")]
    assert read == [
        ["users", "user.signed_up"],
        ["orders", "order.placed"],
        ["orders", "order.paid"],
        ["orders", "order.placed"],
        ["orders", "order.paid"],
    ]


def test_example_without_nats_says_what_to_do() -> None:
    """With nothing listening, the probe answers 503 and the example names the fix."""
    url = f"nats://u:pw@127.0.0.1:{free_port()}"
    result = _run.run_example("nats_forwarding.py", "NATS_URL", NATS_URL=url)
    assert result.returncode == 1
    assert "GET /healthz -> 503 False" in result.stdout
    assert "set NATS_URL" in result.stderr
    assert ":pw@" not in result.stderr
