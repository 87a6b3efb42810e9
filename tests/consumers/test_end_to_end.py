"""App A under a real uvicorn dispatches -> SQS forwarder -> moto -> a consumer (in this
test, or a worker subprocess) -> a local handler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastapi_events.consumers import SQSConsumer
from tests.consumers.kit import PATIENCE, scripted, until
from tests.servers.sqs import REGION, SQSQueue
from tests.servers.uvicorn import free_port

ROOT = Path(__file__).parents[2]


class AppA:
    """The producing app's URL and what it dispatched."""

    def __init__(self, url: str, out: Path) -> None:
        self.url = url
        self.out = out

    def place(
        self, queue: SQSQueue, count: int = 1, *, slow: int = 0, request_id: str = ""
    ) -> None:
        params = {"queue": queue.url, "count": count, "slow": slow}
        headers = {"X-Request-ID": request_id} if request_id else {}
        response = httpx.post(f"{self.url}/orders", params=params, headers=headers, timeout=10)
        response.raise_for_status()

    def dispatched(self, queue: SQSQueue) -> list[dict[str, Any]]:
        lines = self.out.read_text().splitlines() if self.out.exists() else []
        records = [json.loads(line) for line in lines]
        return [r for r in records if r["payload"]["queue"] == queue.url]


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def app_a(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppA]:
    """tests/consumers/producer_app.py under uvicorn on 127.0.0.1, in a subprocess."""
    out = tmp_path_factory.mktemp("app-a") / "dispatched.jsonl"
    port = free_port()
    env = {**os.environ, "SQS_ENDPOINT": moto_endpoint, "EVENTS_OUT": str(out)}
    command = [sys.executable, "-m", "uvicorn", "tests.consumers.producer_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _responds(url) or server.poll() is not None, "uvicorn start")
        assert server.poll() is None, "uvicorn exited"
        yield AppA(url, out)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _responds(url: str) -> bool:
    try:
        httpx.get(f"{url}/docs", timeout=1)
    except httpx.TransportError:
        return False
    return True


def consumer_for(queue: SQSQueue, handlers: list[Any], **options: Any) -> SQSConsumer:
    return SQSConsumer(
        queue.url,
        handlers=handlers,
        region_name=REGION,
        endpoint_url=queue.endpoint,
        wait_time_seconds=0,
        backoff=0,
        **options,
    )


@pytest.mark.anyio
async def test_the_consumer_sees_the_event_app_a_dispatched(
    app_a: AppA, sqs_queue: Callable[..., SQSQueue]
) -> None:
    """Same event id, name, payload and correlation id on both sides of the queue."""
    queue = sqs_queue()
    app_a.place(queue, 3, request_id="req-42")
    handler, calls = scripted(pattern="order.*")
    async with consumer_for(queue, [handler]):
        await until(lambda: len(calls.finished) == 3)
    await until(lambda: len(app_a.dispatched(queue)) == 3)
    sent = {
        r["id"]: (r["name"], r["payload"], r["correlation_id"]) for r in app_a.dispatched(queue)
    }
    got = {e.id: (e.name, e.payload, e.correlation_id) for e in calls.finished}
    assert got == sent
    assert {correlation for _, _, correlation in got.values()} == {"req-42"}


@pytest.mark.anyio
async def test_failing_twice_then_succeeding_is_handled_once_after_two_retries(
    app_a: AppA, sqs_queue: Callable[..., SQSQueue]
) -> None:
    """The handler runs three times for the event, and finishes once."""
    queue = sqs_queue()
    app_a.place(queue)
    handler, calls = scripted(2, pattern="order.*")
    consumer = consumer_for(queue, [handler])
    async with consumer:
        await until(lambda: calls.finished)
    [event_id] = [r["id"] for r in app_a.dispatched(queue)]
    assert (calls.count(event_id), calls.finished_ids) == (3, {event_id: 1})
    assert (consumer.stats.retried, consumer.stats.succeeded) == (2, 1)


@pytest.mark.anyio
async def test_failing_always_is_dead_lettered_after_n_deliveries(
    app_a: AppA, sqs_queue: Callable[..., SQSQueue]
) -> None:
    """Four deliveries, then the dead-letter handler gets the same event once."""
    queue = sqs_queue()
    app_a.place(queue)
    handler, calls = scripted(99, pattern="order.*")
    dead, buried = scripted()
    async with consumer_for(queue, [handler], max_deliveries=4, dead_letter=dead):
        await until(lambda: buried.finished)
    [event_id] = [r["id"] for r in app_a.dispatched(queue)]
    assert calls.count(event_id) == 4
    assert [e.id for e in buried.finished] == [event_id]


def test_sigterm_mid_batch_acks_nothing_unhandled_and_loses_nothing(
    app_a: AppA, sqs_queue: Callable[..., SQSQueue], tmp_path: Path
) -> None:
    """SIGTERM while a worker handles a batch: what finished is deleted, what did not
    (cancelled past the timeout, or never received) is back in the queue; by event id."""
    queue = sqs_queue()
    app_a.place(queue, 9, slow=1)  # event 0 never finishes in time
    wait_for(lambda: len(app_a.dispatched(queue)) == 9, "app A's dispatch")
    all_ids = {r["id"] for r in app_a.dispatched(queue)}
    slow_id = next(r["id"] for r in app_a.dispatched(queue) if r["payload"]["slow"])
    log = tmp_path / "log"
    env = {**os.environ, "QUEUE_URL": queue.url, "SQS_ENDPOINT": queue.endpoint}
    command = [sys.executable, "-m", "fastapi_events.consume"]
    command += ["tests.consumers.worker_app:consumer", "--log-level", "warning"]
    worker = subprocess.Popen(command, env={**env, "OUT_DIR": str(tmp_path)}, cwd=ROOT)
    try:
        wait_for(lambda: f"started {slow_id}" in _lines(log) and len(_lines(log)) >= 3, "work")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    lines = _lines(log)
    done = {line.split()[1] for line in lines if line.startswith("done")}
    started = {line.split()[1] for line in lines if line.startswith("started")}
    assert started - done == {slow_id}  # in flight at SIGTERM: the fast ones finished
    remaining = _drain(queue, expected=all_ids - done)
    assert remaining == all_ids - done  # nothing lost
    assert not remaining & done  # nothing handled is left, nothing unhandled was deleted


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _drain(queue: SQSQueue, expected: set[str]) -> set[str]:
    """The event ids left in ``queue`` (waiting for messages still invisible)."""
    found: set[str] = set()
    deadline = time.monotonic() + PATIENCE
    while found != expected and time.monotonic() < deadline:
        for message in queue.receive_all(len(expected) - len(found), attempts=1):
            found.add(message["MessageAttributes"]["event_id"]["StringValue"])
        time.sleep(0.1)
    return found
