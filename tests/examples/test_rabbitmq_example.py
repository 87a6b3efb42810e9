"""examples/rabbitmq_forwarding.py runs end to end against a real RabbitMQ broker."""

from __future__ import annotations

import pytest

from tests.examples import _run
from tests.servers.redis_server import free_port

pytestmark = pytest.mark.broker


def test_example_routes_events_to_two_queues_and_reads_them_back(amqp_url: str) -> None:
    """Each queue holds the events its binding selects, decoded back; the probe says 200."""
    result = _run.run_example("rabbitmq_forwarding.py", "RABBITMQ_URL", RABBITMQ_URL=amqp_url)
    assert result.returncode == 0, result.stderr
    assert "GET /healthz -> 200 True" in result.stdout
    read = [line.split()[1:3] for line in result.stdout.splitlines() if line.startswith("read")]
    assert read[0] == ["user", "user.signed_up"]
    assert sorted(read[1:]) == [["order", "order.paid"]] * 2 + [["order", "order.placed"]] * 2


def test_example_without_rabbitmq_says_what_to_do() -> None:
    """With nothing listening, the probe answers 503 and the example names the fix."""
    url = f"amqp://guest:pw@127.0.0.1:{free_port()}/"
    result = _run.run_example("rabbitmq_forwarding.py", "RABBITMQ_URL", RABBITMQ_URL=url)
    assert result.returncode == 1
    assert "GET /healthz -> 503 False" in result.stdout
    assert "set RABBITMQ_URL" in result.stderr
    assert ":pw@" not in result.stderr
