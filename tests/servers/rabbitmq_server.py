"""RabbitMQ fixtures: a real broker on 127.0.0.1, and unique exchanges and queues per test.

* ``amqp_url`` (session): ``$FASTAPI_EVENTS_RABBITMQ_URL``, else the broker at
  127.0.0.1:5672 (guest/guest) if it accepts a login, else a ``rabbitmq-server`` started
  here on free ports with its own epmd and data directory (3-5 s). Where none is possible
  the tests skip, or fail when ``FASTAPI_EVENTS_REQUIRE_BROKERS=1``.
* ``rabbitmq``: a :class:`Topology` on its own connection: unique exchange names, queues
  bound to them, the messages they hold; everything it named is deleted after the test.
* ``RabbitMQProcess``: a broker of the session's own (see ``../shared/docs/brokers.md``).

An async test using the broker fails after :data:`TEST_TIMEOUT` seconds inside its own
event loop, and the teardowns here are bounded too: pytest-timeout's signal, raised
inside a running loop, leaves the anyio runner stuck and would stall the rest of the run.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.redis_server import free_port, missing

__all__ = ["TEST_TIMEOUT", "RabbitMQProcess", "Topology", "amqp_url", "answers", "rabbitmq"]

#: Seconds an async test on the broker may run (tests take well under 10 s).
TEST_TIMEOUT = 30.0
#: Seconds a fixture's clean-up on the broker may take.
CLEANUP_TIMEOUT = 10.0

RABBITMQ_URL_ENV = "FASTAPI_EVENTS_RABBITMQ_URL"
_SHARED = "amqp://guest:guest@127.0.0.1:5672/"
_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # not /usr/sbin's: that one su's


async def _login(url: str) -> bool:
    import aio_pika

    try:
        connection = await aio_pika.connect(url, timeout=1)
    except (OSError, asyncio.TimeoutError):
        return False
    await connection.close()
    return True


def answers(url: str) -> bool:
    """Whether an AMQP login at ``url`` succeeds (aiormq's error logs muted meanwhile)."""
    logger = logging.getLogger("aiormq")
    level, logger.level = logger.level, logging.CRITICAL
    try:
        return asyncio.run(_login(url))
    finally:
        logger.setLevel(level)


class RabbitMQProcess:
    """``rabbitmq-server`` and its own epmd on 127.0.0.1, all state in a temp dir."""

    def __init__(self) -> None:
        if not _SERVER.exists():
            missing("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        self.port, self.epmd_port, self.dist_port = free_port(), free_port(), free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self._dir = tempfile.TemporaryDirectory(prefix="fe-rabbitmq-")
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> RabbitMQProcess:
        """Start epmd and the broker; wait until a login succeeds (30 s at most)."""
        env = self._environment()
        self._spawn(["epmd", "-address", "127.0.0.1", "-port", str(self.epmd_port)], env)
        server = self._spawn([str(_SERVER)], env)
        deadline = time.monotonic() + 30
        while not answers(self.url):
            if server.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"rabbitmq-server did not start on port {self.port}")
            time.sleep(0.2)
        return self

    def _environment(self) -> dict[str, str]:
        d = Path(self._dir.name)
        (d / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nlog.console = true\nlog.file = false\n"
        )
        (d / "advanced.config").write_text(
            "[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}].\n"
        )
        (d / "enabled_plugins").write_text("[].\n")
        (d / "rabbitmq-env.conf").write_text("")
        return {
            **os.environ,
            "HOME": str(d),
            "RABBITMQ_NODENAME": f"test-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
        }

    def _spawn(self, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(Path(self._dir.name) / "output.log", "ab")  # noqa: SIM115 (the child's)
        with log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._processes.append(process)
        return process

    def close(self) -> None:
        """SIGTERM the broker, then epmd (SIGKILL after 10 s); reap both; remove the dir."""
        for process in reversed(self._processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        self._dir.cleanup()


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[object]:
    """Run async tests that use the broker under :data:`TEST_TIMEOUT`."""
    test = pyfuncitem.obj
    if "amqp_url" in pyfuncitem.fixturenames and inspect.iscoroutinefunction(test):
        pyfuncitem.obj = _bounded(test)
    try:
        return (yield)
    finally:
        pyfuncitem.obj = test


def _bounded(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(test)
    async def bounded(**kwargs: Any) -> None:
        running = asyncio.ensure_future(test(**kwargs))
        done, _ = await asyncio.wait({running}, timeout=TEST_TIMEOUT)
        if not done:
            running.cancel()
            await asyncio.wait({running}, timeout=CLEANUP_TIMEOUT)
            pytest.fail(f"the test did not finish within {TEST_TIMEOUT}s (cancelled)")
        running.result()

    return bounded


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """The URL of a real RabbitMQ broker on 127.0.0.1 (see the module docstring)."""
    explicit = os.environ.get(RABBITMQ_URL_ENV)
    if explicit:
        if not answers(explicit):
            missing(f"no RabbitMQ accepts a login at ${RABBITMQ_URL_ENV}")
        yield explicit
        return
    if answers(_SHARED):
        yield _SHARED
        return
    server = RabbitMQProcess().start()
    try:
        yield server.url
    finally:
        server.close()


class Topology:
    """Exchanges and queues with unique names on ``url``, deleted by :meth:`clean`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.exchanges: list[str] = []
        self.queues: list[str] = []
        self._connection: Any = None

    async def channel(self) -> Any:
        """A fresh channel (a failed declaration closes a channel, never this object)."""
        import aio_pika

        if self._connection is None:
            self._connection = await aio_pika.connect(self.url, timeout=5)
        return await self._connection.channel()

    def exchange_name(self, label: str = "x") -> str:
        """A unique exchange name, deleted after the test (declared by whoever uses it)."""
        self.exchanges.append(f"fastapi-events-test.{label}.{uuid.uuid4().hex[:12]}")
        return self.exchanges[-1]

    async def exchange(self, label: str = "x", kind: str = "topic") -> str:
        """Declare a durable exchange with a unique name; return the name."""
        name = self.exchange_name(label)
        channel = await self.channel()
        await channel.declare_exchange(name, kind, durable=True)
        await channel.close()
        return name

    async def queue(self, exchange: str = "", binding: str = "#", **arguments: Any) -> str:
        """Declare a durable queue with a unique name, bound to ``exchange`` (if any)."""
        self.queues.append(f"fastapi-events-test.q.{uuid.uuid4().hex[:12]}")
        channel = await self.channel()
        queue = await channel.declare_queue(self.queues[-1], durable=True, arguments=arguments)
        if exchange:
            await queue.bind(exchange, binding)
        await channel.close()
        return self.queues[-1]

    async def messages(self, queue: str) -> list[Any]:
        """Every message in ``queue``, removed from it (in queue order)."""
        channel = await self.channel()
        source = await channel.get_queue(queue, ensure=False)
        taken: list[Any] = []
        while (message := await source.get(no_ack=True, fail=False)) is not None:
            taken.append(message)
        await channel.close()
        return taken

    async def exists(self, exchange: str) -> bool:
        """Whether ``exchange`` exists (a passive declaration)."""
        import aio_pika

        channel = await self.channel()
        try:
            await channel.declare_exchange(exchange, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return False
        await channel.close()
        return True

    async def clean(self) -> None:
        """Delete every queue and exchange named here; close the connection."""
        if self._connection is None and not (self.queues or self.exchanges):
            return
        channel = await self.channel()
        for queue in self.queues:
            await channel.queue_delete(queue)
        for exchange in self.exchanges:
            await channel.exchange_delete(exchange)
        await self._connection.close()


@pytest.fixture
async def rabbitmq(amqp_url: str) -> AsyncIterator[Topology]:
    """A :class:`Topology` on the test broker, cleaned up after the test."""
    topology = Topology(amqp_url)
    try:
        yield topology
    finally:
        await asyncio.wait_for(topology.clean(), CLEANUP_TIMEOUT)
