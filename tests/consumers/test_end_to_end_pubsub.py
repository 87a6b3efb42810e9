"""App A under a real uvicorn dispatches -> Pub/Sub forwarder -> the emulator -> a
``python -m fastapi_events.consume`` worker -> a local handler; then SIGTERM mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.consumers.test_end_to_end import ROOT, _lines, _responds, wait_for
from tests.servers.pubsub import PubSubSubscription
from tests.servers.uvicorn import free_port

pytestmark = pytest.mark.emulator


@pytest.fixture
def stopping() -> Iterator[Callable[[subprocess.Popen[bytes]], subprocess.Popen[bytes]]]:
    """Stop every process it was given at teardown (SIGTERM, then SIGKILL), by its own PID."""
    processes: list[subprocess.Popen[bytes]] = []
    yield lambda process: processes.append(process) or process
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_worker_handles_what_app_a_dispatched_and_acks_only_that_at_sigterm(
    pubsub_subscription: Callable[..., PubSubSubscription],
    stopping: Callable[[subprocess.Popen[bytes]], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    """Same event id and correlation id on both sides, each handler span linked to app A's
    dispatch trace; at SIGTERM what finished is acknowledged, and only that: the rest (in
    flight past the timeout, or never handed over) is given back.

    (That it is deliverable again is checked in test_pubsub.py: once a subscriber's
    connection closes, the emulator loses the messages it nacked, even those the client
    library nacks by itself at shutdown, a bug Pub/Sub itself does not have.)"""
    subscription = pubsub_subscription()
    records = tmp_path / "dispatched.jsonl"
    port = free_port()
    env = {**os.environ, "TOPIC_ID": subscription.topic_id, "EVENTS_OUT": str(records)}
    command = [sys.executable, "-m", "uvicorn", "tests.consumers.pubsub_producer_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    app_a = stopping(subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _responds(url) or app_a.poll() is not None, "uvicorn start")
    response = httpx.post(
        f"{url}/orders", params={"count": 9, "slow": 1}, headers={"X-Request-ID": "req-7"}
    )
    response.raise_for_status()
    wait_for(lambda: len(_lines(records)) == 9, "app A's dispatch")
    sent: dict[str, dict[str, Any]] = {r["id"]: r for r in map(json.loads, _lines(records))}
    slow_id = next(event_id for event_id, r in sent.items() if r["payload"]["slow"])

    log = tmp_path / "log"
    command = [sys.executable, "-m", "fastapi_events.consume"]
    command += ["tests.consumers.pubsub_worker_app:consumer", "--log-level", "warning"]
    env = {**os.environ, "SUBSCRIPTION_ID": subscription.subscription_id, "OUT_DIR": str(tmp_path)}
    worker = stopping(subprocess.Popen(command, env=env, cwd=ROOT))
    wait_for(lambda: f"started {slow_id}" in _lines(log) and len(_lines(log)) >= 4, "work")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0

    lines = [line.split() for line in _lines(log)]
    done = {words[1]: words[2:] for words in lines if words[0] == "done"}
    assert done, "nothing finished before SIGTERM"
    for event_id, (correlation_id, linked) in done.items():
        trace_id = sent[event_id]["traceparent"].split("-")[1]
        assert (correlation_id, linked) == ("req-7", trace_id)
    assert slow_id not in done
    [(received, succeeded, released)] = [tuple(map(int, w[1:])) for w in lines if w[0] == "stats"]
    assert (succeeded, received - released) == (len(done), len(done))
