"""Redis fixtures: a real server on 127.0.0.1, and a fresh stream name per test.

* ``redis_url`` (session): ``$FASTAPI_EVENTS_REDIS_URL``, else the server at
  127.0.0.1:6379 if it answers PING, else a ``redis-server`` started here on a free port.
  Where none is possible the tests skip, or fail when ``FASTAPI_EVENTS_REQUIRE_BROKERS=1``
  (CI on machines that run the brokers).
* ``redis_stream``: a unique stream name, deleted after the test.
* ``RedisProcess``: a ``redis-server`` of a test's own, to stop and restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

__all__ = ["REQUIRE_BROKERS_ENV", "RedisProcess", "free_port", "redis_stream", "redis_url"]

#: Truthy: a missing broker fails its tests instead of skipping them (CI sets it).
REQUIRE_BROKERS_ENV = "FASTAPI_EVENTS_REQUIRE_BROKERS"
REDIS_URL_ENV = "FASTAPI_EVENTS_REDIS_URL"
_SHARED = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    """A port nobody listens on now (it may be taken again: check the server started)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def missing(reason: str) -> NoReturn:
    """Skip, or fail where brokers are required."""
    if os.environ.get(REQUIRE_BROKERS_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_BROKERS_ENV}=1)")
    pytest.skip(reason)


class RedisProcess:
    """A ``redis-server`` on 127.0.0.1, nothing kept on disk; stop and start it again."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="fe-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        """Start the server and wait until it answers PING."""
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no", "--dir", self._dir.name, "--daemonize", "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while not _answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)
        return self

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
        """Stop the server and remove its directory."""
        self.stop()
        self._dir.cleanup()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real Redis server on 127.0.0.1 (see the module docstring)."""
    explicit = os.environ.get(REDIS_URL_ENV)
    if explicit:
        if not _answers(explicit):
            missing(f"no Redis answers at ${REDIS_URL_ENV}")
        yield explicit
        return
    if _answers(_SHARED):
        yield _SHARED
        return
    server = RedisProcess().start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_stream(redis_url: str) -> Iterator[Any]:
    """``make()`` a unique stream name; every name made is deleted after the test."""
    import redis

    names: list[str] = []

    def make(label: str = "s") -> str:
        names.append(f"fastapi-events-test:{label}:{uuid.uuid4().hex[:12]}")
        return names[-1]

    yield make
    client = redis.Redis.from_url(redis_url)
    try:
        if names:
            client.delete(*names)
    finally:
        client.close()
