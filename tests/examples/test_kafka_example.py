"""examples/kafka_forwarding.py runs end to end against a real Kafka-compatible broker."""

from __future__ import annotations

import pytest

from tests.examples import _run
from tests.servers.redis_server import free_port

pytestmark = pytest.mark.broker


def test_example_routes_keys_and_reads_the_events_back(kafka_bootstrap: str) -> None:
    """Each topic holds its events, decoded back; a request's events share one key (its
    X-Request-ID, else its first event's id) in dispatch order; the probe says 200."""
    env = {"KAFKA_BOOTSTRAP": kafka_bootstrap, "KAFKA_IDEMPOTENT": "0"}
    result = _run.run_example("kafka_forwarding.py", "KAFKA_BOOTSTRAP", **env)
    assert result.returncode == 0, result.stderr
    assert "GET /healthz -> 200 True" in result.stdout
    by_key: dict[tuple[str, str], list[str]] = {}
    for line in result.stdout.splitlines():
        if line.startswith("read"):
            _, topic, _, key, name, *_ = line.split()
            by_key.setdefault((topic, key), []).append(name)
    generated = [key for key in by_key if key[1] not in ("key=req-1", "key=req-2")]
    assert by_key.pop(("user", "key=req-1")) == ["user.signed_up"]
    assert by_key.pop(("order", "key=req-2")) == ["order.placed", "order.paid"]
    assert [(key[0], names) for key, names in by_key.items()] == [
        ("order", ["order.placed", "order.paid"])
    ]
    assert len(generated) == 1


def test_example_without_kafka_says_what_to_do() -> None:
    """With nothing listening, the probe answers 503 and the example names the fix."""
    result = _run.run_example(
        "kafka_forwarding.py", "KAFKA_BOOTSTRAP", KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}"
    )
    assert result.returncode == 1
    assert "GET /healthz -> 503 False" in result.stdout
    assert "KafkaConnectionError" in result.stderr
    assert "Set KAFKA_BOOTSTRAP" in result.stderr
