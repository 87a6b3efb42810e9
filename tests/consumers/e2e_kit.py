"""The end-to-end harness: app A under a real uvicorn and a worker process, on 127.0.0.1.

A wire is a module ``tests/consumers/e2e_<wire>.py`` (see e2e_apps.py): app A is its
``app`` factory under ``uvicorn --factory``, the worker ``python -m fastapi_events.consume
tests.consumers.e2e_<wire>:consumer``. Both get their settings as environment variables and
write what they did as JSON lines, which this module reads back: what app A dispatched,
what the worker started and finished. :func:`sigterm_mid_batch` is the scenario every wire
runs; the other checks (:func:`assert_same_events`, :func:`assert_exactly_once`) compare
the two sides by event id.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import httpx

from fastapi_events.consumers import Consumer
from tests.accounting import Ledger
from tests.consumers.kit import scripted, until
from tests.servers.uvicorn import free_port

__all__ = [
    "REQUEST_ID",
    "AppA",
    "Harness",
    "Worker",
    "assert_exactly_once",
    "assert_same_events",
    "handled_by",
    "sigterm_mid_batch",
]

ROOT = Path(__file__).parents[2]
#: The ``X-Request-ID`` app A is called with: every event's correlation id.
REQUEST_ID = "req-e2e"
_REQUEST = {"X-Request-ID": REQUEST_ID}
Record = dict[str, Any]


def read_records(path: Path) -> list[Record]:
    """The JSON lines of ``path`` (none while it does not exist)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class _Child:
    """A process of the test's own in its own session, stopped by its PID."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=ROOT, start_new_session=True
        )

    def close(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; always reaped."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class AppA(_Child):
    """``tests.consumers.e2e_<wire>:app`` under uvicorn, and what it dispatched."""

    def __init__(self, wire: str, directory: Path, env: dict[str, str]) -> None:
        self.out = directory / "dispatched.jsonl"
        self.url = f"http://127.0.0.1:{free_port()}"
        command = [sys.executable, "-m", "uvicorn", "--factory", f"tests.consumers.e2e_{wire}:app"]
        command += ["--host", "127.0.0.1", "--port", self.url.rpartition(":")[2]]
        super().__init__([*command, "--log-level", "warning"], {**env, "EVENTS_OUT": str(self.out)})

    async def place(self, to: str = "", count: int = 1, *, slow: int = 0) -> None:
        """``POST /orders`` (``count`` events, the last ``slow`` slow, sent to ``to``) with
        :data:`REQUEST_ID`, once app A answers (it may still be starting)."""
        params: dict[str, str | int] = {"to": to, "count": count, "slow": slow}
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            for _ in range(300):  # 15 s at most
                assert self.process.poll() is None, "app A exited"
                try:
                    response = await client.post("/orders", params=params, headers=_REQUEST)
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
                    continue
                response.raise_for_status()
                return
        raise AssertionError("app A did not start")

    def dispatched(self, to: str | None = None) -> dict[str, Record]:
        """What app A dispatched (to ``to`` only, if given), by event id."""
        found = read_records(self.out)
        return {r["id"]: r for r in found if to is None or r["payload"]["to"] == to}


class Worker(_Child):
    """``python -m fastapi_events.consume tests.consumers.e2e_<wire>:consumer``, and its log."""

    def __init__(self, wire: str, directory: Path, env: dict[str, str]) -> None:
        self.log = directory / "log"
        command = [sys.executable, "-m", "fastapi_events.consume"]
        command += [f"tests.consumers.e2e_{wire}:consumer", "--log-level", "warning"]
        super().__init__(command, {**env, "OUT_DIR": str(directory)})

    def records(self, what: str) -> list[Record]:
        """The log's ``started``, ``done`` or ``stats`` records, in order."""
        return [r for r in read_records(self.log) if r["what"] == what]

    def done(self) -> dict[str, Record]:
        """What the handler finished, by event id."""
        return {r["id"]: r for r in self.records("done")}

    async def terminate_when(self, slow_id: str, done: int) -> dict[str, Record]:
        """Once the handler started ``slow_id`` and finished ``done`` events, SIGTERM: the
        worker must exit 0 (within 20 s). What it finished, by event id."""

        def busy() -> bool:
            started = {r["id"] for r in self.records("started")}
            return slow_id in started and len(self.done()) >= done

        await until(busy, "the work")
        self.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(self.process.wait, 20) == 0
        return self.done()


class Harness:
    """Starts app A and workers for one test; stops them all at its end (a fixture)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._children: list[_Child] = []

    def app_a(self, wire: str, **env: str) -> AppA:
        """Start app A for ``wire`` with ``env`` (not waiting for it)."""
        app = AppA(wire, self.directory, env)
        self._children.append(app)
        return app

    def worker(self, wire: str, **env: str) -> Worker:
        """Start a worker for ``wire`` with ``env`` (not waiting for it)."""
        worker = Worker(wire, self.directory, env)
        self._children.append(worker)
        return worker

    def close(self) -> None:
        """Stop every process started here, by its own PID."""
        for child in self._children:
            child.close()


async def sigterm_mid_batch(
    app_a: AppA,
    worker: Worker,
    *,
    to: str = "",
    count: int = 5,
    done: int = 4,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> tuple[dict[str, Record], dict[str, Record]]:
    """App A dispatches ``count`` events to ``to`` (once ``ready()`` returned), the last one
    slow; once the worker started it and finished ``done``: SIGTERM. The events it finished
    must be those app A dispatched (:func:`assert_same_events`), the slow one not among them.

    Returns:
        (what app A dispatched, what the worker finished), both by event id.
    """
    if ready is not None:
        await ready()
    await app_a.place(to, count, slow=1)
    await until(lambda: len(app_a.dispatched(to)) == count, "app A's dispatch")
    sent = app_a.dispatched(to)
    [slow_id] = [event_id for event_id, r in sent.items() if r["payload"]["slow"]]
    finished = await worker.terminate_when(slow_id, done)
    assert slow_id not in finished
    assert_same_events(finished, sent)
    return sent, finished


def assert_same_events(finished: dict[str, Record], sent: dict[str, Record]) -> None:
    """Each finished event has the id, name, payload and correlation id app A dispatched
    it with, and its handler span links to app A's dispatch span (trace and span id)."""
    assert finished, "the worker finished nothing"
    for event_id, got in finished.items():
        want = sent[event_id]
        assert (got["name"], got["payload"]) == (want["name"], want["payload"])
        assert got["correlation_id"] == want["correlation_id"] == REQUEST_ID
        assert got["links"] == [want["traceparent"][3:52]]  # 00-<trace id>-<span id>-01


async def handled_by(make: Callable[[list[Any]], Consumer], expected: int) -> list[str]:
    """Run ``make([handler])`` here until it handled ``expected`` events: their ids."""
    handler, calls = scripted()
    async with make([handler]):
        await until(lambda: len(calls.finished) >= expected, "the rest's handling")
    return [event.id for event in calls.finished]


def assert_exactly_once(sent: Collection[str], finished: Collection[str], rest: list[str]) -> None:
    """By event id: what the worker finished and what came again afterwards (``rest``)
    make up what was sent, none twice; the rest is exactly what the worker did not finish."""
    ledger = Ledger()
    ledger.handled = [*finished, *rest]
    ledger.assert_exact(dispatched=len(set(sent)))
    assert set(rest) == set(sent) - set(finished)
