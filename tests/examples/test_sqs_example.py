"""examples/sqs_forwarding.py runs end to end against moto's SQS server."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.examples import _run

EXAMPLE = Path(__file__).parents[2] / "examples" / "sqs_forwarding.py"


def run_example(**env: str) -> subprocess.CompletedProcess[str]:
    """Run the example with ``env`` on top of this environment, minus SQS_ENDPOINT_URL."""
    return _run.run_example("sqs_forwarding.py", "SQS_ENDPOINT_URL", **env)


def received(stdout: str, queue: str) -> list[str]:
    return [line.split()[2] for line in stdout.splitlines() if line.startswith(f"received {queue}")]


def test_example_starts_moto_and_reads_every_event_back() -> None:
    """Without an endpoint it starts moto itself; both queues get all six events."""
    result = run_example()
    assert result.returncode == 0, result.stderr
    assert "started moto's SQS server on 127.0.0.1:" in result.stdout
    assert sorted(received(result.stdout, "events")) == sorted(received(result.stdout, "audit"))
    assert len(received(result.stdout, "audit")) == 6


def test_example_uses_a_running_endpoint(moto_endpoint: str) -> None:
    """With SQS_ENDPOINT_URL set, the example uses that server and starts none."""
    result = run_example(SQS_ENDPOINT_URL=moto_endpoint)
    assert result.returncode == 0, result.stderr
    assert "started moto" not in result.stdout
    assert received(result.stdout, "events").count("order.paid") == 2
