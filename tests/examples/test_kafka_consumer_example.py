"""examples/kafka_consumer.py runs end to end against a real Kafka-compatible broker."""

from __future__ import annotations

import pytest

from tests.examples import _run

pytestmark = pytest.mark.broker


def test_example_consumes_retries_and_dead_letters(kafka_bootstrap: str) -> None:
    """Orders 1 and 2 are handled (2 after a retry) with their request's correlation id;
    order 3 fails three times and lands in the dead-letter topic with its event id."""
    env = {"KAFKA_BOOTSTRAP": kafka_bootstrap, "KAFKA_IDEMPOTENT": "0"}
    result = _run.run_example("kafka_consumer.py", "KAFKA_BOOTSTRAP", **env)
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
