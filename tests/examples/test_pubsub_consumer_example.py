"""examples/pubsub_consumer.py runs end to end against the Pub/Sub emulator."""

from __future__ import annotations

import pytest

from tests.examples import _run
from tests.servers.pubsub import Emulator


@pytest.mark.emulator
def test_example_consumes_retries_and_dead_letters(pubsub_emulator: Emulator) -> None:
    """Orders 1 and 2 are handled (2 after a retry) with their request's correlation id;
    order 3 fails three times and lands on the dead-letter topic with its event id."""
    result = _run.run_example(
        "pubsub_consumer.py", "PUBSUB_EMULATOR_HOST", PUBSUB_EMULATOR_HOST=pubsub_emulator.host
    )
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
