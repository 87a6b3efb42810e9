"""examples/<wire>_consumer.py each run end to end against a real server of their wire:
the same story (orders 1 and 2 handled, 2 after a retry, with their request's correlation
id; order 3 failing three times and dead-lettered with its event id) on every wire."""

from __future__ import annotations

from typing import Any

import pytest

from tests.examples import _run

WIRES = [
    pytest.param("sqs_consumer.py", "moto_endpoint", "SQS_ENDPOINT_URL", id="sqs"),
    pytest.param(
        "kafka_consumer.py",
        "kafka_bootstrap",
        "KAFKA_BOOTSTRAP",
        id="kafka",
        marks=pytest.mark.broker,
    ),
    pytest.param("nats_consumer.py", "nats_url", "NATS_URL", id="nats", marks=pytest.mark.broker),
    pytest.param(
        "rabbitmq_consumer.py", "amqp_url", "RABBITMQ_URL", id="rabbitmq", marks=pytest.mark.broker
    ),
    pytest.param(
        "pubsub_consumer.py",
        "pubsub_emulator",
        "PUBSUB_EMULATOR_HOST",
        id="pubsub",
        marks=pytest.mark.emulator,
    ),
]


def server_environment(
    request: pytest.FixtureRequest, fixture: str, variable: str
) -> dict[str, str]:
    """The environment pointing the example at the test server ``fixture`` provides."""
    server: Any = request.getfixturevalue(fixture)
    environment = {variable: server.host if fixture == "pubsub_emulator" else server}
    if fixture == "kafka_bootstrap":
        environment["KAFKA_IDEMPOTENT"] = "0"  # Tansu refuses the idempotent producer
    return environment


@pytest.mark.parametrize(("example", "fixture", "variable"), WIRES)
def test_example_consumes_retries_and_dead_letters(
    request: pytest.FixtureRequest, example: str, fixture: str, variable: str
) -> None:
    """Orders 1 and 2 are handled (2 after a retry) with their request's correlation id;
    order 3 fails three times and lands in the dead-letter destination with its event id."""
    result = _run.run_example(example, variable, **server_environment(request, fixture, variable))
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
