"""examples/catalogue.py: its routes answer, and its document passes the official parser."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.examples import _run

Parser = Callable[[dict[str, Any]], Any]


def test_example_serves_the_document_and_the_page() -> None:
    """Run as a script, it lists the channels and operations its routes describe."""
    result = _run.run_example("catalogue.py", "QUEUE_URL")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "GET /asyncapi.json -> AsyncAPI 3.0.0: Shop events"
    channels = [line.split()[1] for line in lines if line.startswith("channel ")]
    assert channels == ["dispatch", "sqs.orders", "redis.routed"]
    operations = [line.split()[1:3] for line in lines if line.startswith("operation ")]
    assert operations == [
        ["update_stock", "receive"],
        ["send_welcome_email", "receive"],
        ["send.sqs.orders", "send"],
        ["send.redis.routed", "send"],
    ]
    assert lines[-1] == "GET /asyncapi -> 200 text/html; charset=utf-8"


def test_example_document_written_by_the_command_is_valid(
    tmp_path: Path, asyncapi_parser: Parser
) -> None:
    """python -m fastapi_events.catalogue catalogue:app writes a document the parser accepts."""
    output = tmp_path / "asyncapi.json"
    command = [sys.executable, "-m", "fastapi_events.catalogue", "catalogue:app"]
    options = ["--app-dir", str(_run.EXAMPLES), "--output", str(output), "--title", "Shop"]
    result = subprocess.run(
        [*command, *options], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(output.read_text())
    routed = document["channels"]["redis.routed"]
    assert routed["x-fastapi-events-routed-by"] == "catalogue.stream_for"
    assert set(document["components"]["schemas"]) == {"Item", "OrderPlaced", "UserSignedUp"}
    asyncapi_parser(document)
