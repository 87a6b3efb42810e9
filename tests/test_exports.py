"""The public surface: every 0.12 import path, the exported names, lazy optional imports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import fastapi_events

CONTRACT = {
    "fastapi_events": [
        "__version__",
        "handler_store",
        "event_store",
        "in_req_res_cycle",
        "middleware_identifier",
        "BaseEventHandler",
    ],
    "fastapi_events.dispatcher": ["dispatch"],
    "fastapi_events.middleware": ["EventHandlerASGIMiddleware"],
    "fastapi_events.handlers.base": ["BaseEventHandler"],
    "fastapi_events.handlers.local": ["LocalHandler", "local_handler"],
    "fastapi_events.handlers.echo": ["EchoHandler"],
    "fastapi_events.handlers.null": ["NullHandler"],
    "fastapi_events.registry.base": ["BaseEventPayloadSchemaRegistry"],
    "fastapi_events.registry.payload_schema": ["EventPayloadSchemaRegistry", "registry"],
    "fastapi_events.typing": [
        "Event",
        "EventName",
        "Payload",
        "Scope",
        "Message",
        "Receive",
        "Send",
        "ASGIApp",
    ],
    "fastapi_events.constants": [
        "FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR",
        "FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR",
    ],
    "fastapi_events.errors": [
        "FastapiEventError",
        "ConfigurationError",
        "MissingEventNameError",
        "MissingEventNameDuringRegistration",
        "MissingEventNameDuringDispatch",
        "MultiplePayloadsDetectedDuringDispatch",
    ],
    "fastapi_events.otel": ["HAS_OTEL_INSTALLED"],
    "fastapi_events.otel.attributes": ["SpanAttributes"],
    "fastapi_events.otel.utils": ["consumer_span", "extract_trace_context"],
    "fastapi_events.handlers.aws": ["SQSForwardHandler"],
    "fastapi_events.handlers.gcp": ["GoogleCloudSimplePubSubHandler"],
    "fastapi_events.utils": ["chunk", "strtobool"],
}


@pytest.mark.parametrize("module", sorted(CONTRACT))
def test_every_contract_name_is_importable(module: str) -> None:
    """Each module path of fastapi-events 0.12 exists and has its names."""
    imported = importlib.import_module(module)
    missing = [name for name in CONTRACT[module] if not hasattr(imported, name)]
    assert missing == []


def test_package_exports_exactly_the_public_names() -> None:
    """The package's __all__ is the documented set, and each name resolves."""
    assert set(fastapi_events.__all__) == {
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
    }
    for name in fastapi_events.__all__:
        assert getattr(fastapi_events, name) is not None


#: Modules importable without their optional dependencies (one per line: easy to extend).
LIGHT_MODULES = [
    "fastapi_events",
    "fastapi_events.handlers.local",
    "fastapi_events.handlers.echo",
    "fastapi_events.otel",
    "fastapi_events.otel.attributes",
    "fastapi_events.otel.utils",
    "fastapi_events.handlers.aws",
    "fastapi_events.handlers.gcp",
    "fastapi_events.serialization",
    "fastapi_events.testing",
    "fastapi_events.health",
    "fastapi_events.spool",
    "fastapi_events.handlers.forwarder",
    "fastapi_events.handlers.redis",
    "fastapi_events.handlers.kafka",
    "fastapi_events.handlers.rabbitmq",
    "fastapi_events.handlers.sns",
    "fastapi_events.handlers.nats",
    "fastapi_events.catalogue",
    "fastapi_events.consumers",
    "fastapi_events.consumers.sqs",
    "fastapi_events.consumers.idempotency_redis",
    "fastapi_events.ingress",
    "fastapi_events.ingress.app",
    "fastapi_events.ingress.hmac",
    "fastapi_events.ingress.oidc",
    "fastapi_events.ingress.sns_signature",
    "fastapi_events.consumers.redis",
    "fastapi_events.consumers.kafka",
    "fastapi_events.consumers.nats",
    "fastapi_events.consumers.rabbitmq",
    "fastapi_events.consumers.pubsub",
    "fastapi_events.consume",
]
#: What none of them may import.
HEAVY = [
    "boto3",
    "botocore",
    "google.cloud.pubsub_v1",
    "opentelemetry",
    "fastapi",
    "starlette",
    "litestar",
    "redis",
    "aiokafka",
    "aio_pika",
    "nats",
    "aiormq",
    "jwt",
    "cryptography",
]


def test_importing_the_core_and_handlers_imports_no_optional_dependency() -> None:
    """boto3, Pub/Sub, OpenTelemetry, the brokers' clients and the frameworks stay
    unimported until used."""
    code = (
        f"import sys, importlib\nfor m in {LIGHT_MODULES!r}: importlib.import_module(m)\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_readonly_views_of_the_0_12_globals() -> None:
    """handler_store, in_req_res_cycle and middleware_identifier read like 0.12's objects."""
    assert dict(fastapi_events.handler_store) == {}
    assert fastapi_events.in_req_res_cycle.get(False) is False
    with pytest.raises(LookupError):
        fastapi_events.middleware_identifier.get()


def test_otel_package_keeps_its_names_and_utils_shares_them() -> None:
    """fastapi_events.otel still has its 1.0 names; otel.utils re-exports the helpers."""
    otel = importlib.import_module("fastapi_events.otel")
    utils = importlib.import_module("fastapi_events.otel.utils")
    attributes = importlib.import_module("fastapi_events.otel.attributes")
    assert {"OTEL_INSTALL_HINT", "consumer_span", "extract_trace_context"} <= set(otel.__all__)
    assert utils.extract_trace_context is otel.extract_trace_context
    assert utils.consumer_span is otel.consumer_span
    assert attributes.SpanAttributes.HANDLER == "fastapi_events.handler"
