"""The public surface, pinned: every public module's ``__all__``, and that it resolves.

A change here is a change of the public API: update the pin on purpose, and the CHANGELOG.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import fastapi_events

SURFACE: dict[str, list[str]] = {
    "fastapi_events": [
        "BaseEventHandler",
        "Event",
        "EventHandlerASGIMiddleware",
        "__version__",
        "dispatch",
        "event_scope",
        "event_store",
        "handler_store",
        "in_req_res_cycle",
        "middleware_identifier",
        "wait_for_pending",
    ],
    "fastapi_events.catalogue": [
        "ASYNCAPI_VERSION",
        "CatalogueApp",
        "EventCatalogue",
        "asyncapi_document",
        "render_html",
    ],
    "fastapi_events.catalogue.litestar": ["catalogue_handlers"],
    "fastapi_events.constants": [
        "FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR",
        "FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR",
    ],
    "fastapi_events.consume": ["load", "main", "parser"],
    "fastapi_events.consumers": [
        "Consumer",
        "ConsumerStats",
        "Delivery",
        "IdempotencyStore",
        "KafkaConsumer",
        "MemoryIdempotencyStore",
        "NATSConsumer",
        "PubSubConsumer",
        "RabbitMQConsumer",
        "RedisStreamConsumer",
        "SQSConsumer",
        "UNDECODABLE_EVENT",
    ],
    "fastapi_events.consumers.base": ["Consumer", "ConsumerStats", "Delivery"],
    "fastapi_events.consumers.idempotency_redis": ["DEFAULT_TTL", "RedisIdempotencyStore"],
    "fastapi_events.consumers.idempotency": [
        "DEFAULT_MAX_IDS",
        "IdempotencyStore",
        "MemoryIdempotencyStore",
    ],
    "fastapi_events.consumers.kafka": ["KafkaConsumer"],
    "fastapi_events.consumers.nats": ["NATSConsumer"],
    "fastapi_events.consumers.rabbitmq": ["RabbitMQConsumer"],
    "fastapi_events.consumers.pubsub": ["MAX_ACK_DEADLINE", "PubSubConsumer"],
    "fastapi_events.consumers.redis": ["RedisStreamConsumer"],
    "fastapi_events.consumers.sqs": ["MAX_VISIBILITY_TIMEOUT", "SHORT_POLL_PAUSE", "SQSConsumer"],
    "fastapi_events.contrib": [],
    "fastapi_events.contrib.litestar": ["EventsPlugin"],
    "fastapi_events.dispatcher": ["OUTSIDE_SCOPE_MESSAGE", "dispatch"],
    "fastapi_events.errors": [
        "AWSDeliveryError",
        "ConfigurationError",
        "EventDeadLetteredError",
        "EventLoopClosedError",
        "EventsCancelledError",
        "EventsDroppedError",
        "FastapiEventError",
        "IngressError",
        "IngressUnauthorizedError",
        "InvalidEventNameError",
        "MissingEventNameDuringDispatch",
        "MissingEventNameDuringRegistration",
        "MissingEventNameError",
        "MultiplePayloadsDetectedDuringDispatch",
        "OutboxRelayLostError",
        "OutsideEventScopeError",
        "PendingEventsTimeout",
        "RabbitMQDeliveryError",
        "RedeliveryLimitError",
        "SNSDeliveryError",
        "SQSDeliveryError",
        "SerializationError",
        "ShutdownTimeoutError",
        "UnknownMiddlewareIdError",
    ],
    "fastapi_events.handlers": ["BaseEventHandler"],
    "fastapi_events.handlers.aws": [
        "AWS_INSTALL_HINT",
        "DEFAULT_LINGER",
        "DEFAULT_MAX_BYTES",
        "DEFAULT_MAX_IN_FLIGHT",
        "MessageGroupId",
        "QueueUrl",
        "RetryPolicy",
        "SNSDeliveryError",
        "SNSForwardHandler",
        "SQSDeliveryError",
        "SQSForwardHandler",
    ],
    "fastapi_events.handlers.base": ["BaseEventHandler", "HealthStatus"],
    "fastapi_events.handlers.echo": ["EchoHandler"],
    "fastapi_events.handlers.forwarder": [
        "Destination",
        "Failure",
        "Forwarder",
        "HealthStatus",
        "OutgoingMessage",
        "RetryPolicy",
        "SendResult",
    ],
    "fastapi_events.handlers.gcp": [
        "GOOGLE_INSTALL_HINT",
        "GoogleCloudSimplePubSubHandler",
        "MAX_MESSAGES_PER_PUBLISH",
        "MessageAttributes",
        "OrderingKey",
    ],
    "fastapi_events.handlers.kafka": [
        "ExtraHeaders",
        "KAFKA_INSTALL_HINT",
        "KafkaForwardHandler",
        "MessageKey",
        "TopicName",
    ],
    "fastapi_events.handlers.local": ["LocalHandler", "local_handler"],
    "fastapi_events.handlers.nats": ["NATSForwardHandler", "NATS_INSTALL_HINT", "Subject"],
    "fastapi_events.handlers.null": ["NullHandler"],
    "fastapi_events.handlers.rabbitmq": [
        "DEFAULT_URL",
        "NACKED",
        "RABBITMQ_INSTALL_HINT",
        "RabbitMQForwardHandler",
        "RoutingKey",
        "UNROUTABLE",
        "event_name",
    ],
    "fastapi_events.handlers.redis": [
        "DEFAULT_MAXLEN",
        "REDIS_INSTALL_HINT",
        "RedisStreamForwardHandler",
        "StreamName",
    ],
    "fastapi_events.handlers.sns": [
        "RetryPolicy",
        "SNSDeliveryError",
        "SNSForwardHandler",
        "SNS_DEFAULT_MAX_BYTES",
        "TopicArn",
    ],
    "fastapi_events.ingress": [
        "ALLOW_UNAUTHENTICATED",
        "DEFAULT_MAX_BODY_BYTES",
        "EventIngress",
        "FORMATS",
        "HMACVerifier",
        "IngressRequest",
        "IngressStats",
        "PubSubOIDCVerifier",
        "SNSSignatureVerifier",
        "SNSSubscriptionMessage",
        "Verifier",
    ],
    "fastapi_events.ingress.app": [
        "ALLOW_UNAUTHENTICATED",
        "DEFAULT_MAX_BODY_BYTES",
        "EventIngress",
        "FORMATS",
        "SNSSubscriptionCallback",
    ],
    "fastapi_events.ingress.hmac": [
        "DEFAULT_SIGNATURE_HEADER",
        "DEFAULT_TIMESTAMP_HEADER",
        "HMACVerifier",
        "MIN_SECRET_BYTES",
    ],
    "fastapi_events.ingress.oidc": [
        "Fetch",
        "GOOGLE_ISSUERS",
        "GOOGLE_JWKS_URL",
        "INGRESS_INSTALL_HINT",
        "MAX_TOKEN_CHARS",
        "PubSubOIDCVerifier",
    ],
    "fastapi_events.ingress.sns_signature": [
        "DEFAULT_CERT_HOST_PATTERN",
        "Fetch",
        "INGRESS_INSTALL_HINT",
        "SIGNED_FIELDS",
        "SNSSignatureVerifier",
        "string_to_sign",
    ],
    "fastapi_events.health": [
        "DEFAULT_HEALTH_TIMEOUT",
        "HealthApp",
        "HealthStatus",
        "check_health",
        "health_app",
    ],
    "fastapi_events.middleware": ["EventHandlerASGIMiddleware"],
    "fastapi_events.otel": [
        "HAS_OTEL_INSTALLED",
        "OTEL_INSTALL_HINT",
        "consumer_span",
        "extract_trace_context",
    ],
    "fastapi_events.otel.attributes": ["SpanAttributes"],
    "fastapi_events.otel.utils": ["consumer_span", "extract_trace_context"],
    "fastapi_events.outbox": [
        "DEAD",
        "DEFAULT_TABLE_NAME",
        "Outbox",
        "OutboxRelay",
        "OutboxStats",
        "PENDING",
        "PUBLISHED",
        "add",
        "add_async",
        "create_table",
        "create_table_async",
        "default_outbox",
    ],
    "fastapi_events.registry": [
        "BaseEventPayloadSchemaRegistry",
        "EventPayloadSchemaRegistry",
        "registry",
    ],
    "fastapi_events.registry.base": ["BaseEventPayloadSchemaRegistry"],
    "fastapi_events.registry.payload_schema": ["EventPayloadSchemaRegistry", "registry"],
    "fastapi_events.scope": ["event_scope", "wait_for_pending"],
    "fastapi_events.serialization": [
        "CloudEventsFormat",
        "EncodedMessage",
        "JSON_CONTENT_TYPE",
        "JsonArrayFormat",
        "MessageFormat",
        "ReceivedEvent",
        "SerializationError",
        "Serializer",
        "decode",
        "dumps",
        "encode",
        "json_default",
        "message_attributes",
        "metadata_attributes",
    ],
    "fastapi_events.spool": ["SQLiteSpool", "Spool", "SpooledEvent"],
    "fastapi_events.testing": [
        "DEFAULT_TIMEOUT",
        "EventAssertions",
        "EventCapture",
        "EventMute",
        "ExpectedEvent",
        "PendingEventsTimeout",
        "RecordingHandler",
        "assert_dispatched",
        "assert_dispatched_in_order",
        "assert_not_dispatched",
        "capture_events",
        "isolated_registrations",
        "matching_events",
        "mute_events",
        "wait_until_handled",
        "wait_until_handled_sync",
    ],
    "fastapi_events.testing.plugin": [
        "captured_events",
        "event_recorder",
        "intercepted_events",
        "isolated_events",
        "muted_events",
    ],
    "fastapi_events.typing": [
        "ASGIApp",
        "Event",
        "EventName",
        "Message",
        "Payload",
        "Receive",
        "Scope",
        "Send",
    ],
    "fastapi_events.utils": ["chunk", "strtobool"],
}


def public_modules() -> list[str]:
    """Every module of the package without a private (``_``) part, ``__main__`` aside."""
    names = [
        info.name
        for info in pkgutil.walk_packages(fastapi_events.__path__, "fastapi_events.")
        if not any(part.startswith("_") for part in info.name.split(".")[1:])
    ]
    return ["fastapi_events", *names]


def test_the_public_modules_are_the_pinned_ones() -> None:
    """No public module appears or disappears unnoticed."""
    assert sorted(public_modules()) == sorted(SURFACE)


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_each_module_exports_exactly_its_pinned_names(module: str) -> None:
    """``__all__`` is the pinned list, and every name in it exists."""
    imported = importlib.import_module(module)
    assert sorted(imported.__all__) == SURFACE[module]
    assert [name for name in imported.__all__ if not hasattr(imported, name)] == []
