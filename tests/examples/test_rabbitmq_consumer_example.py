"""examples/rabbitmq_consumer.py runs end to end against a real RabbitMQ broker."""

from __future__ import annotations

import pytest

from tests.examples import _run
from tests.servers.redis_server import free_port

pytestmark = pytest.mark.broker


def test_example_consumes_retries_and_dead_letters(amqp_url: str) -> None:
    """Orders 1 and 2 are handled (2 after a retry) with their request's correlation id;
    order 3 fails three times and lands in the dead-letter queue with its event id."""
    result = _run.run_example("rabbitmq_consumer.py", "RABBITMQ_URL", RABBITMQ_URL=amqp_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    handled = [line.split() for line in lines if line.startswith("handled")]
    assert sorted((words[3], words[4]) for words in handled) == [
        ("order=1", "correlation=request-1"),
        ("order=2", "correlation=request-2"),
    ]
    assert lines.count("failed  order=3 delivery=3") == 1
    assert "stats succeeded=2 retried=3 dead_lettered=1" in lines
    [dead] = [line.split() for line in lines if line.startswith("dead-lettered")]
    assert dead[2:] == ["order.placed", "order=3"]
    assert dead[1] not in {words[1] for words in handled}


def test_example_without_rabbitmq_says_what_to_do() -> None:
    """With nothing listening, the example exits 1 naming the fix, no password shown."""
    url = f"amqp://guest:pw@127.0.0.1:{free_port()}/"
    result = _run.run_example("rabbitmq_consumer.py", "RABBITMQ_URL", RABBITMQ_URL=url)
    assert result.returncode == 1
    assert "set RABBITMQ_URL" in result.stderr
    assert ":pw@" not in result.stderr
