"""Timing relative to the response, under a real uvicorn on 127.0.0.1.

Every check goes by ordering: a handler waits for the client to have the response, so a
response that waited for handlers would deadlock and time out instead of passing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.servers.uvicorn import free_port, serve_in_thread

CLIENT_TIMEOUT = 10.0


def blocking_app(client_has_response: threading.Event, log: list[str]) -> FastAPI:
    """An app whose handlers wait until the client says it has the complete response."""
    handler = LocalHandler()

    @handler.register
    async def wait_for_client(event: Event) -> None:
        log.append(f"start:{event.key}:client-had-response={client_has_response.is_set()}")
        assert await asyncio.to_thread(client_has_response.wait, CLIENT_TIMEOUT)
        log.append(f"done:{event.key}")

    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        dispatch("ok.one")
        return {"body": "x" * 100_000}

    @app.get("/fail")
    async def fail() -> None:
        dispatch("fail.one")
        dispatch("fail.two")
        raise RuntimeError("endpoint failed")

    return app


def wait_until(predicate: Any, timeout: float = CLIENT_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_client_has_the_whole_response_before_handlers_finish() -> None:
    """The full body arrives while the handler is still blocked waiting for the client."""
    client_has_response, log = threading.Event(), []
    with serve_in_thread(blocking_app(client_has_response, log)) as url:
        response = httpx.get(f"{url}/ok", timeout=CLIENT_TIMEOUT)
        assert len(response.json()["body"]) == 100_000
        client_has_response.set()
        assert wait_until(lambda: "done:ok.one" in log)
    assert log[-1] == "done:ok.one"


def test_the_500_is_not_delayed_by_slow_handlers() -> None:
    """An endpoint exception's 500 reaches the client while its events' handlers wait."""
    client_has_response, log = threading.Event(), []
    with serve_in_thread(blocking_app(client_has_response, log)) as url:
        response = httpx.get(f"{url}/fail", timeout=CLIENT_TIMEOUT)
        assert response.status_code == 500
        client_has_response.set()
        assert wait_until(lambda: "done:fail.two" in log)
    assert [entry for entry in log if entry.startswith("done")] == [
        "done:fail.one",
        "done:fail.two",
    ]


def test_sigterm_drains_background_events(tmp_path: Path) -> None:
    """SIGTERM right after a response: inline and background events are still handled."""
    out = tmp_path / "events.txt"
    port = free_port()
    env = {**os.environ, "EVENTS_OUT": str(out)}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.sigterm_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(cmd, env=env, cwd=Path(__file__).parent.parent)
    try:
        assert wait_until(lambda: _responds(port)), "uvicorn did not start"
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=CLIENT_TIMEOUT).text == "ok"
        time.sleep(0.2)  # let the endpoint's task dispatch its late event
        server.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after a graceful shutdown (exit -15); 0 on older versions.
        assert server.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
    assert sorted(out.read_text().split()) == ["late.background", "request.inline"]


def _responds(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/nothing", timeout=1)
    except httpx.TransportError:
        return False
    return True
