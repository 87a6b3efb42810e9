"""A small fake of the Pub/Sub Publisher gRPC service, served by real grpcio on 127.0.0.1.

The real ``google.cloud.pubsub_v1.PublisherClient`` talks to it over HTTP/2 when
``PUBSUB_EMULATOR_HOST`` points at it. It records every Publish request (one per client
batch) and can inject gRPC errors, which the Java emulator cannot. It knows topics and
Publish only: no subscriptions (read :attr:`FakePublisher.messages` instead).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.pubsub_v1 import types

__all__ = ["FakePublisher", "Fault", "serve_fake_publisher"]

SERVICE = "google.pubsub.v1.Publisher"

#: Decides whether a fault applies to one Publish request.
RequestMatcher = Callable[[types.PublishRequest], bool]


@dataclass
class Fault:
    """Answer the next ``times`` matching Publish calls with ``code`` instead of publishing."""

    code: grpc.StatusCode
    times: int = 1
    when: RequestMatcher | None = None

    def matches(self, request: types.PublishRequest) -> bool:
        """True when this fault still applies to ``request``."""
        return self.times > 0 and (self.when is None or self.when(request))


@dataclass
class FakePublisher:
    """The service's state: topics, recorded Publish requests, pending faults."""

    auto_create_topics: bool = True
    topics: set[str] = field(default_factory=set)
    requests: list[types.PublishRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    #: Every Publish call, including the ones answered with an injected error.
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 0

    def inject(
        self, code: grpc.StatusCode, *, times: int = 1, when: RequestMatcher | None = None
    ) -> None:
        """Fail the next ``times`` Publish calls (those matching ``when``) with ``code``."""
        with self._lock:
            self.faults.append(Fault(code, times, when))

    def messages(self, topic: str | None = None) -> list[types.PubsubMessage]:
        """Messages accepted so far, in the order they were published (optionally one topic)."""
        with self._lock:
            return [
                message
                for request in self.requests
                if topic is None or request.topic == topic
                for message in request.messages
            ]

    def create_topic(self, request: types.Topic, context: grpc.ServicerContext) -> types.Topic:
        """CreateTopic: ALREADY_EXISTS for a known name."""
        with self._lock:
            if request.name in self.topics:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, "Topic already exists")
            self.topics.add(request.name)
        return request

    def get_topic(
        self, request: types.GetTopicRequest, context: grpc.ServicerContext
    ) -> types.Topic:
        """GetTopic: NOT_FOUND for an unknown name."""
        if request.topic not in self.topics:
            context.abort(grpc.StatusCode.NOT_FOUND, "Topic not found")
        return types.Topic(name=request.topic)

    def publish(
        self, request: types.PublishRequest, context: grpc.ServicerContext
    ) -> types.PublishResponse:
        """Publish: an injected fault, NOT_FOUND, or message ids for every message."""
        with self._lock:
            self.attempts += 1
            fault = next((f for f in self.faults if f.matches(request)), None)
            if fault is not None:
                fault.times -= 1
                context.abort(fault.code, f"injected {fault.code.name}")
            if request.topic not in self.topics:
                if not self.auto_create_topics:
                    context.abort(grpc.StatusCode.NOT_FOUND, "Topic not found")
                self.topics.add(request.topic)
            self.requests.append(request)
            first = self._next_id + 1
            self._next_id += len(request.messages)
        return types.PublishResponse(message_ids=[str(i) for i in range(first, self._next_id + 1)])


def _unary(method: Callable[..., Any], request_type: Any, response_type: Any) -> Any:
    return grpc.unary_unary_rpc_method_handler(
        method,
        request_deserializer=request_type.deserialize,
        response_serializer=response_type.serialize,
    )


@contextmanager
def serve_fake_publisher(fake: FakePublisher | None = None) -> Iterator[tuple[str, FakePublisher]]:
    """Serve a :class:`FakePublisher` on 127.0.0.1 (a free port); yield ``(host, fake)``."""
    fake = FakePublisher() if fake is None else fake
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "CreateTopic": _unary(fake.create_topic, types.Topic, types.Topic),
            "GetTopic": _unary(fake.get_topic, types.GetTopicRequest, types.Topic),
            "Publish": _unary(fake.publish, types.PublishRequest, types.PublishResponse),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", fake
    finally:
        server.stop(grace=None).wait()
