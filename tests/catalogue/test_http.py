"""An HTTP ingress in the document: its channel, formats, POST binding and verifier kind."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from fastapi_events._event import Event
from fastapi_events.catalogue import EventCatalogue, render_html
from fastapi_events.handlers.echo import EchoHandler
from fastapi_events.ingress import (
    ALLOW_UNAUTHENTICATED,
    EventIngress,
    HMACVerifier,
    IngressRequest,
    PubSubOIDCVerifier,
    SNSSignatureVerifier,
)
from tests.catalogue.kit import local_handler_with, operation_message_names, schemas_registry

Parser = Callable[[dict[str, Any]], Any]
SECRET = "s3cr3t-do-not-print-0123456789"
AUDIENCE = "https://push.example.com/audience-7f3a"
EMAIL = "pusher@shop-project.iam.gserviceaccount.com"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders-topic"
JWKS = "https://keys.example.com/jwks-9c1d"


async def on_order(event: Event) -> None:
    """A local function the ingress hands order events to."""


async def never_fetch(url: str) -> bytes:
    """Verifiers are built, never asked: the catalogue fetches nothing."""
    raise AssertionError("the catalogue fetched " + url)


class TokenVerifier:
    """A verifier of the user's own."""

    async def verify(self, request: IngressRequest) -> None:
        """Accept everything (never called here)."""


def oidc() -> PubSubOIDCVerifier:
    """A Pub/Sub verifier with an audience, a service account and a JWKS URL of its own."""
    return PubSubOIDCVerifier(
        AUDIENCE, service_account_email=EMAIL, jwks_url=JWKS, fetch=never_fetch
    )


def sns() -> SNSSignatureVerifier:
    """An SNS verifier restricted to one topic."""
    return SNSSignatureVerifier(topic_arns=[TOPIC], fetch=never_fetch)


def document_with(*ingresses: tuple[str, EventIngress], **options: Any) -> dict[str, Any]:
    """The document of no middleware handlers and ``ingresses`` at their paths."""
    catalogue = EventCatalogue(
        [], registry=schemas_registry(), ingresses=dict(ingresses), **options
    )
    return catalogue.document()


def ingress(verifier: Any = None, **options: Any) -> EventIngress:
    """An ingress handing order events to ``on_order`` (HMAC-verified by default)."""
    handlers = [local_handler_with(("order.*", on_order))]
    return EventIngress(handlers=handlers, verifier=verifier or HMACVerifier(SECRET), **options)


def test_an_ingress_is_a_channel_with_a_post_receive_operation_per_handler(
    asyncapi_parser: Parser,
) -> None:
    """Its path is the address; each local function receives the events it matches, POSTed."""
    relay = EventIngress(
        handlers=[local_handler_with(("order.*", on_order)), EchoHandler()],
        verifier=HMACVerifier(SECRET),
    )
    document = document_with(("/events", relay))
    channel = document["channels"]["http.events"]
    assert channel["address"] == "/events"
    assert channel["title"] == "HTTP ingress /events"
    assert channel["description"].startswith("Events POSTed to `/events`")
    operations = document["operations"]
    assert [operations[k]["action"] for k in ("on_order", "EchoHandler")] == ["receive"] * 2
    for key in ("on_order", "EchoHandler"):
        assert operations[key]["channel"] == {"$ref": "#/channels/http.events"}
        assert operations[key]["bindings"] == {
            "http": {"method": "POST", "bindingVersion": "0.3.0"}
        }
    assert operation_message_names(document, "on_order") == ["order.placed", "order.*"]
    assert operation_message_names(document, "EchoHandler") == [
        "order.placed",
        "user.created",
        "order.*",
    ]
    asyncapi_parser(document)


def test_the_accepted_formats_are_described() -> None:
    """Every format by default; only the chosen ones otherwise."""
    every = document_with(("/all", ingress()))["channels"]["http.all"]
    assert every["x-fastapi-events-formats"] == ["cloudevents", "pubsub", "sns"]
    for text in ("`ce-*` headers", "application/cloudevents+json", "Pub/Sub push", "SNS HTTP"):
        assert text in every["description"]
    only = document_with(("/push", ingress(formats=["pubsub"])))["channels"]["http.push"]
    assert only["x-fastapi-events-formats"] == ["pubsub"]
    assert "Pub/Sub push envelopes" in only["description"]
    assert "CloudEvents" not in only["description"]
    assert "SNS" not in only["description"]


@pytest.mark.parametrize(
    ("make", "kind", "scheme"),
    [
        (lambda: HMACVerifier(SECRET), "hmac", {"type": "httpApiKey", "in": "header"}),
        (oidc, "pubsub-oidc", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
        (sns, "sns-signature", {"type": "asymmetricEncryption"}),
    ],
    ids=["hmac", "pubsub-oidc", "sns-signature"],
)
def test_the_verifier_kind_is_a_security_scheme_of_the_operations(
    make: Callable[[], Any], kind: str, scheme: dict[str, str], asyncapi_parser: Parser
) -> None:
    """One scheme per kind, shared by the ingresses using it, named by every operation."""
    document = document_with(("/a", ingress(make())), ("/b", ingress(make())))
    schemes = document["components"]["securitySchemes"]
    assert len(schemes) == 1
    (key, found), *_ = schemes.items()
    assert found.items() >= scheme.items()
    for operation in ("on_order", "on_order_2"):
        security = document["operations"][operation]["security"]
        assert security == [{"$ref": f"#/components/securitySchemes/{key}"}]
    assert document["channels"]["http.a"]["x-fastapi-events-verifier"] == kind
    asyncapi_parser(document)


def test_hmac_headers_of_the_verifier_are_named() -> None:
    """The signature and timestamp headers are the verifier's; other names, another scheme."""
    custom = HMACVerifier(SECRET, header="x-sig", timestamp_header="x-ts", window_seconds=60)
    document = document_with(("/a", ingress()), ("/b", ingress(custom)))
    schemes = document["components"]["securitySchemes"]
    assert list(schemes) == ["hmac", "hmac_2"]
    assert schemes["hmac"]["name"] == "x-event-signature"
    assert schemes["hmac_2"]["name"] == "x-sig"
    assert "`x-ts`" in schemes["hmac_2"]["description"]
    assert "within 60 s" in schemes["hmac_2"]["description"]


def test_unauthenticated_and_custom_verifiers_are_said_in_the_description(
    asyncapi_parser: Parser, caplog: pytest.LogCaptureFixture
) -> None:
    """No security scheme claims what they check: the channel says it in words."""
    with caplog.at_level(logging.WARNING):
        open_door = ingress(ALLOW_UNAUTHENTICATED)
    document = document_with(("/open", open_door), ("/own", ingress(TokenVerifier())))
    assert "securitySchemes" not in document["components"]
    assert all("security" not in op for op in document["operations"].values())
    channels = document["channels"]
    assert "Requests are NOT verified" in channels["http.open"]["description"]
    assert channels["http.open"]["x-fastapi-events-verifier"] == "unauthenticated"
    assert f"`{__name__}.TokenVerifier`" in channels["http.own"]["description"]
    assert channels["http.own"]["x-fastapi-events-verifier"] == "custom"
    asyncapi_parser(document)


def test_no_secret_audience_account_topic_or_key_url_reaches_the_document_or_page() -> None:
    """Only kinds and header names are read from verifiers."""
    document = document_with(
        ("/hmac", ingress(HMACVerifier([SECRET, SECRET + "-old"]))),
        ("/pubsub", ingress(oidc())),
        ("/sns", ingress(sns())),
    )
    text = json.dumps(document) + render_html(document)
    for value in (SECRET, AUDIENCE, "audience-7f3a", EMAIL, TOPIC, "123456789012", JWKS):
        assert value not in text


def test_path_parameters_are_channel_parameters(asyncapi_parser: Parser) -> None:
    """Starlette's ``{tenant:int}`` is the AsyncAPI ``{tenant}`` with a parameter."""
    document = document_with(("/hooks/{tenant:int}/events", ingress()))
    channel = document["channels"]["http.hooks_tenant_events"]
    assert channel["address"] == "/hooks/{tenant}/events"
    assert list(channel["parameters"]) == ["tenant"]
    asyncapi_parser(document)


def test_a_path_with_stray_braces_or_unknown_has_no_address(asyncapi_parser: Parser) -> None:
    """No address rather than an invalid one; the description says how to give the path."""
    stray = ingress()
    document = EventCatalogue(
        [], registry=schemas_registry(), ingresses={"/odd}": stray}, consumers=[ingress()]
    ).document()
    channels = document["channels"]
    assert channels["http.odd"]["address"] is None
    assert "`/odd}`" in channels["http.odd"]["description"]
    assert channels["http.ingress"]["address"] is None
    assert "ingresses={'/path': ingress}" in channels["http.ingress"]["description"]
    asyncapi_parser(document)


def test_the_page_shows_the_ingress_channel_and_operations() -> None:
    """Its title, address, formats and verifier kind, and its receive operations."""
    html = render_html(document_with(("/events", ingress(oidc(), formats=["pubsub"]))))
    assert "HTTP ingress /events" in html
    assert "<code>/events</code>" in html
    assert "Pub/Sub push envelopes" in html
    assert "Requests are verified by their Pub/Sub OIDC token." in html
    assert "<a href='#channel-http.events'>http.events</a>" in html
