"""Pub/Sub fixtures: Google's Java emulator or a gRPC fake, both on 127.0.0.1.

* ``pubsub_emulator`` (session): the emulator, started on first use and terminated at the
  end. Where its launcher is missing the tests that need it skip, or fail when
  ``FASTAPI_EVENTS_REQUIRE_EMULATOR=1`` (CI), so a broken emulator path cannot hide.
* ``pubsub_fake``: a fresh fake Publisher service (fault injection) per test.
* ``pubsub_topic``: a fresh topic on the emulator *and* on the fake (parametrised), with
  ``PUBSUB_EMULATOR_HOST`` set for the test only; ``receive(n)`` reads the messages back.
* ``pubsub_subscription``: makes fresh topics with a subscription on the emulator (with a
  dead-letter or retry policy if asked), ``PUBSUB_EMULATOR_HOST`` set for the test only;
  the consumer tests read from them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.servers.pubsub_fake import FakePublisher, serve_fake_publisher

__all__ = [
    "EMULATOR_BIN_ENV",
    "REQUIRE_EMULATOR_ENV",
    "Emulator",
    "PubSubSubscription",
    "PubSubTopic",
    "ReceivedMessage",
    "find_emulator",
    "pubsub_emulator",
    "pubsub_emulator_launcher",
    "pubsub_fake",
    "pubsub_subscription",
    "pubsub_topic",
]

#: Path of the ``cloud-pubsub-emulator`` launcher, overriding the search (the example reads it too).
EMULATOR_BIN_ENV = "PUBSUB_EMULATOR_BIN"
#: Truthy: a missing emulator fails the emulator tests instead of skipping them (CI sets it).
REQUIRE_EMULATOR_ENV = "FASTAPI_EVENTS_REQUIRE_EMULATOR"
PROJECT_ID = "fastapi-events-test"
_LAUNCHER = Path("platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")
_READY = "Server started, listening on"
_START_TIMEOUT = 60.0


def find_emulator() -> Path | None:
    """Locate the emulator launcher: ``$PUBSUB_EMULATOR_BIN``, next to gcloud, or the SDK."""
    explicit = os.environ.get(EMULATOR_BIN_ENV)
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    roots = [Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk")]
    gcloud = shutil.which("gcloud")
    if gcloud:  # the SDK root is two levels above the real gcloud executable
        roots.insert(0, Path(gcloud).resolve().parent.parent)
    return next((root / _LAUNCHER for root in roots if (root / _LAUNCHER).is_file()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ReceivedMessage:
    """One message as a subscriber sees it."""

    data: bytes
    attributes: dict[str, str]
    ordering_key: str


class Emulator:
    """A running emulator process and the admin clients the tests use to read from it."""

    def __init__(self, launcher: Path) -> None:
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.output: deque[str] = deque(maxlen=200)
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [str(launcher), "--host=127.0.0.1", f"--port={self.port}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Keep reading after start-up so the emulator never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        self._clients: tuple[Any, Any] | None = None

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip())
            if _READY in line:
                self._ready.set()
        self._ready.set()  # the process ended: wake the waiter, which checks why

    def wait_ready(self) -> None:
        """Block until the emulator listens; raise with its output if it exits or stalls."""
        ready = self._ready.wait(_START_TIMEOUT)
        if not ready or self.process.poll() is not None:
            self.stop()
            log = "\n".join(self.output)
            raise RuntimeError(f"Pub/Sub emulator did not start on {self.host}:\n{log}")

    def stop(self) -> None:
        """Terminate the emulator (kill it after 5 s) and close the admin clients."""
        if self._clients is not None:
            publisher, subscriber = self._clients
            publisher.transport.close()
            subscriber.close()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def clients(self) -> tuple[Any, Any]:
        """A (PublisherClient, SubscriberClient) pair on explicit channels (no env needed)."""
        if self._clients is None:
            import grpc
            from google.cloud import pubsub_v1
            from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
            from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

            self._clients = (
                pubsub_v1.PublisherClient(
                    transport=PublisherGrpcTransport(channel=grpc.insecure_channel(self.host))
                ),
                pubsub_v1.SubscriberClient(
                    transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(self.host))
                ),
            )
        return self._clients

    def create_topic(self, project_id: str, topic_id: str) -> Callable[[int], list[Any]]:
        """Create a topic and an ordered subscription to it; return a ``receive(n)`` function."""
        publisher, subscriber = self.clients()
        topic = f"projects/{project_id}/topics/{topic_id}"
        subscription = f"projects/{project_id}/subscriptions/{topic_id}-sub"
        publisher.create_topic(name=topic)
        subscriber.create_subscription(
            request={"name": subscription, "topic": topic, "enable_message_ordering": True}
        )
        return lambda count: self.pull(subscription, count)

    def pull(self, subscription: str, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Pull (and ack) until ``count`` messages arrived or ``timeout`` passed."""
        _, subscriber = self.clients()
        received: list[ReceivedMessage] = []
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            response = subscriber.pull(subscription=subscription, max_messages=100, timeout=5)
            for item in response.received_messages:
                message = item.message
                received.append(
                    ReceivedMessage(message.data, dict(message.attributes), message.ordering_key)
                )
            if response.received_messages:  # ordered delivery waits for the acks
                ack_ids = [item.ack_id for item in response.received_messages]
                subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)
        return received


def emulator_missing(reason: str) -> NoReturn:
    """Skip, or fail when ``FASTAPI_EVENTS_REQUIRE_EMULATOR`` is truthy."""
    from fastapi_events.utils import strtobool

    if strtobool(os.environ.get(REQUIRE_EMULATOR_ENV, "0")):
        pytest.fail(f"{reason} ({REQUIRE_EMULATOR_ENV} is set, so this is an error)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pubsub_emulator_launcher() -> Path:
    """The emulator's launcher (skips, or fails in CI, where it is missing)."""
    launcher = find_emulator()
    if launcher is None:
        emulator_missing(
            f"Pub/Sub emulator not found (set {EMULATOR_BIN_ENV} or install "
            "google-cloud-cli-pubsub-emulator)"
        )
    return launcher


@pytest.fixture(scope="session")
def pubsub_emulator(pubsub_emulator_launcher: Path) -> Iterator[Emulator]:
    """The Pub/Sub emulator on 127.0.0.1, started once, on first use."""
    emulator = Emulator(pubsub_emulator_launcher)
    emulator.wait_ready()
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass
class FakeServer:
    """A running fake Publisher service and its state."""

    host: str
    state: FakePublisher
    project_id: str = PROJECT_ID

    def topic_path(self, topic_id: str) -> str:
        """``projects/<project>/topics/<topic_id>``."""
        return f"projects/{self.project_id}/topics/{topic_id}"


@pytest.fixture
def pubsub_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """A fresh fake Publisher service; ``PUBSUB_EMULATOR_HOST`` points at it for this test."""
    with serve_fake_publisher() as (host, state):
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
        yield FakeServer(host, state)


def unique_topic_id() -> str:
    """A topic id no other test uses (the emulator is shared by the session)."""
    return f"events-{uuid.uuid4().hex[:12]}"


@dataclass
class PubSubTopic:
    """A fresh topic on one backend, and a way to read back what reached it."""

    backend: str
    host: str
    topic_id: str
    _receive: Callable[[int], list[ReceivedMessage]]
    fake: FakePublisher | None = None
    project_id: str = PROJECT_ID

    @property
    def path(self) -> str:
        """``projects/<project>/topics/<topic_id>``."""
        return f"projects/{self.project_id}/topics/{self.topic_id}"

    def receive(self, count: int) -> list[ReceivedMessage]:
        """The topic's messages in delivery order (waits for up to ``count`` on the emulator)."""
        return self._receive(count)


def _fake_reader(state: FakePublisher, topic: str) -> Callable[[int], list[ReceivedMessage]]:
    def receive(count: int) -> list[ReceivedMessage]:
        return [
            ReceivedMessage(m.data, dict(m.attributes), m.ordering_key)
            for m in state.messages(topic)
        ]

    return receive


@pytest.fixture(params=[pytest.param("emulator", marks=pytest.mark.emulator), "fake"])
def pubsub_topic(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PubSubTopic]:
    """A fresh topic on the emulator and on the fake; the env points at it for this test."""
    topic_id = unique_topic_id()
    if request.param == "emulator":
        emulator: Emulator = request.getfixturevalue("pubsub_emulator")
        receive = emulator.create_topic(PROJECT_ID, topic_id)
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
        yield PubSubTopic("emulator", emulator.host, topic_id, receive)
        return
    with serve_fake_publisher() as (host, state):
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
        path = f"projects/{PROJECT_ID}/topics/{topic_id}"
        yield PubSubTopic("fake", host, topic_id, _fake_reader(state, path), fake=state)


@dataclass
class PubSubSubscription:
    """A fresh topic and its subscription on the emulator."""

    emulator: Emulator
    topic_id: str
    subscription_id: str

    @property
    def path(self) -> str:
        return f"projects/{PROJECT_ID}/subscriptions/{self.subscription_id}"

    def publish_raw(self, data: bytes, **attributes: str) -> None:
        """Publish a message this library did not write."""
        publisher, _ = self.emulator.clients()
        topic = f"projects/{PROJECT_ID}/topics/{self.topic_id}"
        publisher.publish(topic, data, **attributes).result(timeout=10)

    def left(self, wait: float = 0.5, expected: int | None = None) -> list[dict[str, str]]:
        """The attributes of the messages still to be delivered, pulled (and acknowledged)
        for ``wait`` seconds (or until ``expected`` came): a message given back is
        deliverable at once."""
        _, subscriber = self.emulator.clients()
        found: list[dict[str, str]] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(found) != expected:
            response = subscriber.pull(subscription=self.path, max_messages=100, timeout=1.0)
            if response.received_messages:
                found += [dict(item.message.attributes) for item in response.received_messages]
                ack_ids = [item.ack_id for item in response.received_messages]
                subscriber.acknowledge(subscription=self.path, ack_ids=ack_ids)
            time.sleep(0.05)
        return found


@pytest.fixture
def pubsub_subscription(
    pubsub_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., PubSubSubscription]]:
    """Make fresh subscriptions (with optional settings); the env points at the emulator."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    publisher, subscriber = pubsub_emulator.clients()
    topics: list[str] = []
    subscriptions: list[str] = []

    def make(*, dead_letter_policy: bool = False, **settings: Any) -> PubSubSubscription:
        topic_id = f"consume-{uuid.uuid4().hex[:12]}"
        topic = publisher.create_topic(name=f"projects/{PROJECT_ID}/topics/{topic_id}").name
        topics.append(topic)
        if dead_letter_policy:
            dead = publisher.create_topic(name=f"{topic}-dead").name
            topics.append(dead)
            settings["dead_letter_policy"] = {"dead_letter_topic": dead, "max_delivery_attempts": 5}
        made = PubSubSubscription(pubsub_emulator, topic_id, f"{topic_id}-sub")
        subscriber.create_subscription(request={"name": made.path, "topic": topic, **settings})
        subscriptions.append(made.path)
        return made

    yield make
    for path in subscriptions:
        subscriber.delete_subscription(subscription=path)
    for topic in topics:
        publisher.delete_topic(topic=topic)
