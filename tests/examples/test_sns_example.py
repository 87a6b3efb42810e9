"""examples/sns_forwarding.py runs end to end against moto's SNS and SQS."""

from __future__ import annotations

import subprocess

from tests.examples import _run
from tests.servers.redis_server import free_port


def run_example(**env: str) -> subprocess.CompletedProcess[str]:
    """Run the example with ``env`` on top of this environment, minus SNS_ENDPOINT_URL."""
    return _run.run_example("sns_forwarding.py", "SNS_ENDPOINT_URL", **env)


def read(stdout: str) -> list[list[str]]:
    return [line.split()[1:3] for line in stdout.splitlines() if line.startswith("read")]


def test_example_starts_moto_and_reads_both_topics_back() -> None:
    """Without an endpoint it starts moto; each queue holds its topic's events, decoded from
    raw delivery and from the SNS envelope alike; the readiness probe says 200."""
    result = run_example()
    assert result.returncode == 0, result.stderr
    assert "started moto's SNS server on 127.0.0.1:" in result.stdout
    assert "GET /healthz -> 200 True" in result.stdout
    assert read(result.stdout) == [
        ["user", "user.signed_up"],
        ["order", "order.placed"],
        ["order", "order.paid"],
        ["order", "order.placed"],
        ["order", "order.paid"],
    ]


def test_example_uses_a_running_endpoint(moto_endpoint: str) -> None:
    """With SNS_ENDPOINT_URL set, the example uses that server and starts none."""
    result = run_example(SNS_ENDPOINT_URL=moto_endpoint)
    assert result.returncode == 0, result.stderr
    assert "started moto" not in result.stdout
    assert len(read(result.stdout)) == 5


def test_example_without_sns_says_what_to_do() -> None:
    """With nothing listening, the probe answers 503 and the example names the fix."""
    result = run_example(SNS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "GET /healthz -> 503 False" in result.stdout
    assert "set SNS_ENDPOINT_URL" in result.stderr
