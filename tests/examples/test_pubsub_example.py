"""examples/pubsub_forwarding.py runs end to end against the Pub/Sub emulator."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.examples import _run
from tests.servers.pubsub import Emulator

EXAMPLE = Path(__file__).parents[2] / "examples" / "pubsub_forwarding.py"


def run_example(**env: str) -> subprocess.CompletedProcess[str]:
    """Run the example with ``env`` on top of this environment, minus PUBSUB_EMULATOR_HOST."""
    return _run.run_example("pubsub_forwarding.py", "PUBSUB_EMULATOR_HOST", **env)


@pytest.mark.emulator
def test_example_publishes_each_users_events_in_order(pubsub_emulator: Emulator) -> None:
    """Against a running emulator, the subscriber gets every event, in order per user."""
    result = run_example(PUBSUB_EMULATOR_HOST=pubsub_emulator.host)
    assert result.returncode == 0, result.stderr
    received = [line.split() for line in result.stdout.splitlines() if line.startswith("received")]
    by_user = {
        key: [fields[1] for fields in received if fields[2] == f"key={key}"]
        for key in ("user-1", "user-2")
    }
    assert by_user == {key: ["user.signed_up", "order.placed", "order.paid"] for key in by_user}


@pytest.mark.emulator
@pytest.mark.usefixtures("pubsub_emulator_launcher")
def test_example_starts_its_own_emulator() -> None:
    """Without PUBSUB_EMULATOR_HOST the example launches the emulator itself, then stops it."""
    result = run_example()
    assert result.returncode == 0, result.stderr
    assert "started the Pub/Sub emulator on 127.0.0.1:" in result.stdout
    assert sum(line.startswith("received") for line in result.stdout.splitlines()) == 6


def test_example_without_any_emulator_says_what_to_do() -> None:
    """With neither a host nor a launcher, the example exits non-zero with a clear message."""
    result = run_example(PUBSUB_EMULATOR_BIN=str(EXAMPLE.with_name("no-such-emulator")))
    assert result.returncode == 1
    assert "set PUBSUB_EMULATOR_HOST=127.0.0.1:PORT" in result.stderr
