"""examples/rabbitmq_consumer.py without a broker (its run with one: test_consumer_examples)."""

from __future__ import annotations

from tests.examples import _run
from tests.servers.redis_server import free_port


def test_example_without_rabbitmq_says_what_to_do() -> None:
    """With nothing listening, the example exits 1 naming the fix, no password shown."""
    url = f"amqp://guest:pw@127.0.0.1:{free_port()}/"
    result = _run.run_example("rabbitmq_consumer.py", "RABBITMQ_URL", RABBITMQ_URL=url)
    assert result.returncode == 1
    assert "set RABBITMQ_URL" in result.stderr
    assert ":pw@" not in result.stderr
