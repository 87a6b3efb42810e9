"""Crash test: kill -9 a real uvicorn while its SQS sends hang; the restarted server
delivers every event (counted by id in the queue), from the spool."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.servers.sqs import FaultyProxy, SQSQueue
from tests.servers.uvicorn import free_port

ROOT = Path(__file__).parent.parent.parent
REQUESTS, PER_REQUEST = 100, 10


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "tests.spool.crash_app:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--log-level", "critical"]
    server = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert server.poll() is None and time.monotonic() < deadline, "uvicorn did not start"
        try:
            httpx.get(f"{url}/nothing", timeout=1)
            return server, url
        except httpx.TransportError:
            time.sleep(0.05)


def spooled(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def drain_queues(queues: list[SQSQueue], expected: int, timeout: float = 60) -> list[str]:
    """Receive until ``expected`` messages arrived; each stays invisible, so none twice."""
    labels: list[str] = []
    deadline = time.monotonic() + timeout
    while len(labels) < expected and time.monotonic() < deadline:
        received = 0
        for queue in queues:
            batch = queue.client.receive_message(
                QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=600
            )
            messages = batch.get("Messages", [])
            labels += [json.loads(m["Body"])[1]["label"] for m in messages]
            received += len(messages)
        if not received:
            time.sleep(0.1)
    return labels


def test_kill_9_while_sends_hang_then_restart_delivers_everything(
    tmp_path: Path, sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy
) -> None:
    """1,000 events, SQS not answering, kill -9; the restarted server sends all 1,000."""
    queues, path = [sqs_queue() for _ in range(10)], tmp_path / "spool.db"
    env = {"QUEUE_URLS": ",".join(q.url for q in queues), "SPOOL_PATH": str(path)}
    sqs_proxy.black_hole = True
    first, url = serve({**env, "SQS_ENDPOINT": sqs_proxy.url})
    try:
        with httpx.Client(timeout=10) as client:
            for r in range(REQUESTS):
                assert client.get(f"{url}/burst?tag=r{r}&n={PER_REQUEST}").text == "ok"
        deadline = time.monotonic() + 20
        while spooled(path) < REQUESTS * PER_REQUEST and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sqs_proxy.held.is_set(), "a send was hanging when the server was killed"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert spooled(path) == REQUESTS * PER_REQUEST
    second, _ = serve({**env, "SQS_ENDPOINT": queues[0].endpoint})
    try:
        labels = drain_queues(queues, REQUESTS * PER_REQUEST)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    counts = Counter(labels)
    duplicates = sum(n - 1 for n in counts.values())
    print(f"\ncrash test: dispatched 1000, arrived {len(counts)}, duplicates {duplicates}")
    assert set(counts) == {f"r{r}-{i}" for r in range(REQUESTS) for i in range(PER_REQUEST)}
    assert duplicates == 0  # the hanging sends never reached SQS
    assert spooled(path) == 0
