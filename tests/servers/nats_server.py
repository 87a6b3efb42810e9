"""NATS fixtures: a real server with JetStream on 127.0.0.1, and fresh streams per test.

* ``nats_url`` (session): ``$FASTAPI_EVENTS_NATS_URL``, else the server at 127.0.0.1:4222 if
  it answers with JetStream on, else a ``nats-server -js`` started here on a free port.
  Where none is possible the tests skip, or fail when ``FASTAPI_EVENTS_REQUIRE_BROKERS=1``.
* ``nats_stream``: ``await make()`` creates a stream with a unique name capturing
  ``<name>.>``; every stream made is deleted after the test.
* ``nats_handler``: ``make(subject, **options)`` builds a ``NATSForwardHandler`` on that
  server (fast retries); each is closed after the test.
* ``NatsProcess``: a ``nats-server`` of a test's own (streams kept on disk across a
  restart), to stop and start again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.servers.redis_server import free_port, missing

__all__ = ["NatsProcess", "Stream", "nats_handler", "nats_stream", "nats_url", "read_stream"]

NATS_URL_ENV = "FASTAPI_EVENTS_NATS_URL"
_SHARED = "nats://127.0.0.1:4222"


def _server_info(url: str) -> dict[str, Any] | None:
    """The server's INFO (sent on connect), or ``None`` if nothing answers like NATS."""
    host, _, port = url.removeprefix("nats://").rpartition("@")[2].partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=1) as sock:
            line = sock.makefile("rb").readline(65536)
    except OSError:
        return None
    if not line.startswith(b"INFO "):
        return None
    info: dict[str, Any] = json.loads(line[5:])
    return info


def _jetstream_on(url: str) -> bool:
    info = _server_info(url)
    return bool(info and info.get("jetstream"))


class NatsProcess:
    """A ``nats-server -js`` on 127.0.0.1 with its store in a temporary directory."""

    def __init__(self) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            missing("nats-server is not installed (apt-get install nats-server)")
        self.binary = binary
        self.port, self.monitor_port = free_port(), free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="fe-nats-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsProcess:
        """Start the server (same port and store each time) and wait until JetStream is ready."""
        command = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        command += ["-sd", self._dir.name, "-m", str(self.monitor_port)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nats-server did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def _ready(self) -> bool:
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(health, timeout=1) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError):
            return False
        return answer.get("status") == "ok" and _jetstream_on(self.url)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; always reaped."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop the server and remove its store."""
        self.stop()
        self._dir.cleanup()


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """The URL of a NATS server with JetStream on 127.0.0.1 (see the module docstring)."""
    explicit = os.environ.get(NATS_URL_ENV)
    if explicit:
        if not _jetstream_on(explicit):
            missing(f"no NATS server with JetStream answers at ${NATS_URL_ENV}")
        yield explicit
        return
    if _jetstream_on(_SHARED):
        yield _SHARED
        return
    server = NatsProcess().start()
    try:
        yield server.url
    finally:
        server.close()


@dataclass(frozen=True)
class Stream:
    """A test's stream: its name, and the subject prefix it captures (``<prefix>.>``)."""

    name: str

    def subject(self, *tokens: str) -> str:
        """A subject the stream captures."""
        return ".".join((self.name, *tokens))


async def read_stream(url: str, stream: Stream) -> list[Any]:
    """Every message stored in ``stream``, in order (as nats-py gives them)."""
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(stream.name)).state.last_seq
        return [await js.get_msg(stream.name, seq) for seq in range(1, last + 1)]
    finally:
        await nc.close()


@pytest.fixture
async def nats_stream(nats_url: str) -> AsyncIterator[Any]:
    """``await make(**config)``: a new stream (unique name); all deleted after the test."""
    import nats

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    made: list[Stream] = []

    async def make(**config: Any) -> Stream:
        stream = Stream(f"FE_TEST_{uuid.uuid4().hex[:12].upper()}")
        config.setdefault("duplicate_window", 60)
        await js.add_stream(name=stream.name, subjects=[f"{stream.name}.>"], **config)
        made.append(stream)
        return stream

    try:
        yield make
    finally:
        for stream in made:
            await js.delete_stream(stream.name)
        await nc.close()


@pytest.fixture
async def nats_handler(nats_url: str) -> AsyncIterator[Any]:
    """``make(subject, **options)``: a handler on the test server; aclose()d after the test."""
    from fastapi_events.handlers.nats import NATSForwardHandler
    from tests.handlers.nats_kit import FAST

    made: list[NATSForwardHandler] = []

    def make(subject: Any, **options: Any) -> NATSForwardHandler:
        options.setdefault("url", nats_url)
        options.setdefault("retry", FAST)
        made.append(NATSForwardHandler(subject, **options))
        return made[-1]

    yield make
    for handler in made:
        await handler.aclose()
