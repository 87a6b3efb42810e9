"""App A under a real uvicorn dispatches -> NATS forwarder -> JetStream -> NATSConsumer in a
worker process (``python -m fastapi_events.consume``) -> a local handler; SIGTERM mid-batch."""

from __future__ import annotations

import asyncio
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

from tests.accounting import Ledger
from tests.consumers.kit import scripted, until
from tests.consumers.test_nats import consumer_for
from tests.servers.uvicorn import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

ROOT = Path(__file__).parents[2]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def app_a(nats_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """tests/consumers/nats_producer_app.py under uvicorn on 127.0.0.1: (URL, its records)."""
    out = tmp_path / "dispatched.jsonl"
    port = free_port()
    env = {**os.environ, "NATS_URL": nats_url, "EVENTS_OUT": str(out)}
    command = [sys.executable, "-m", "uvicorn", "tests.consumers.nats_producer_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", out
    finally:
        _stop(server)


async def _post(url: str, params: dict[str, Any]) -> None:
    """POST once app A answers (it may still be starting)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for _ in range(200):  # 10 s at most
            try:
                response = await client.post("/orders", params=params, headers=_REQUEST)
                response.raise_for_status()
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise AssertionError("app A did not start")


_REQUEST = {"X-Request-ID": "req-nats"}


def _progress(log: Path, slow_id: str) -> tuple[bool, int]:
    """(the slow event started, how many events are done) in the worker's log."""
    records = _records(log)
    started = any(r["what"] == "started" and r["id"] == slow_id for r in records)
    return started, sum(1 for r in records if r["what"] == "done")


async def test_worker_sees_app_a_events_with_linked_traces_and_sigterm_loses_nothing(
    app_a: tuple[str, Path], nats_url: str, nats_stream: Callable[..., Any], tmp_path: Path
) -> None:
    """Same id, name, payload and correlation id in the worker; its handler spans link to
    app A's dispatch spans; SIGTERM while one event is stuck: the others were acked, the
    stuck one was given back and comes to the next worker; by event id, nothing lost."""
    url, dispatched_file = app_a
    stream = await nats_stream()
    await _post(url, {"subject": stream.subject("orders"), "count": 5, "slow": 1})
    await until(lambda: len(_records(dispatched_file)) == 5, "app A's dispatch")
    dispatched = {r["id"]: r for r in _records(dispatched_file)}
    slow_id = next(i for i, r in dispatched.items() if r["payload"]["slow"])
    log = tmp_path / "log"
    env = {**os.environ, "STREAM": stream.name, "NATS_URL": nats_url, "OUT_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "fastapi_events.consume"]
    command += ["tests.consumers.nats_worker_app:consumer", "--log-level", "warning"]
    worker = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        await until(lambda: _progress(log, slow_id) == (True, 4), "the work")
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 20) == 0
    finally:
        _stop(worker)
    done = {r["id"]: r for r in _records(log) if r["what"] == "done"}
    for event_id, record in done.items():
        sent = dispatched[event_id]
        assert (record["name"], record["payload"]) == (sent["name"], sent["payload"])
        assert record["correlation_id"] == sent["correlation_id"] == "req-nats"
        assert [link[3:52] for link in record["links"]] == [sent["traceparent"][3:52]]
    handler, calls = scripted()
    async with consumer_for(stream, nats_url, [handler], durable="e2e"):
        await until(lambda: calls.finished)
    ledger = Ledger()
    ledger.handled = [*done, *(e.id for e in calls.finished)]
    ledger.assert_exact(dispatched=5)
    assert [e.id for e in calls.finished] == [slow_id]
