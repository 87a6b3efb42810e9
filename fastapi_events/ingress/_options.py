"""Checking an ingress's options at construction: the verifier (or the visible opt-out),
callbacks and the payload schema registry."""

from __future__ import annotations

import logging
from typing import Final

from ..errors import ConfigurationError
from ..registry.base import BaseEventPayloadSchemaRegistry
from ..registry.payload_schema import registry as default_registry
from ._handling import PayloadCheck
from ._request import Verifier

__all__ = [
    "ALLOW_UNAUTHENTICATED",
    "NO_VERIFIER",
    "AllowUnauthenticated",
    "check_callable",
    "check_verifier",
    "payload_check",
]

logger = logging.getLogger("fastapi_events.ingress")

#: The message of the ConfigurationError an ingress without ``verifier=`` raises.
NO_VERIFIER = (
    "EventIngress needs verifier=: a Verifier such as HMACVerifier(secret) (CloudEvents "
    "webhooks), PubSubOIDCVerifier (Pub/Sub push) or SNSSignatureVerifier (SNS); or, to "
    "accept unauthenticated requests on purpose, verifier=ALLOW_UNAUTHENTICATED"
)


class AllowUnauthenticated:
    """The type of :data:`ALLOW_UNAUTHENTICATED` (one instance)."""

    def __repr__(self) -> str:
        return "ALLOW_UNAUTHENTICATED"


#: ``verifier=ALLOW_UNAUTHENTICATED``: accept requests nobody verified (logged as a
#: WARNING when the ingress is built). For a private network, or behind a gateway that
#: authenticates every request.
ALLOW_UNAUTHENTICATED: Final = AllowUnauthenticated()


def check_verifier(verifier: object) -> Verifier | None:
    """The verifier to call, ``None`` for the opt-out (logged once, here).

    Raises:
        ConfigurationError: no verifier, or an object without ``verify(request)``.
    """
    if verifier is None:
        raise ConfigurationError(NO_VERIFIER)
    if verifier is ALLOW_UNAUTHENTICATED:
        logger.warning(
            "EventIngress built with verifier=ALLOW_UNAUTHENTICATED: anyone who can reach "
            "it can hand events to its handlers; verify requests (HMACVerifier, "
            "PubSubOIDCVerifier, SNSSignatureVerifier) unless a gateway in front does"
        )
        return None
    if not isinstance(verifier, Verifier) or not callable(verifier.verify):
        raise ConfigurationError(
            f"verifier must have an async verify(request) method (a Verifier), got a "
            f"{type(verifier).__name__} object; {NO_VERIFIER}"
        )
    return verifier


def check_callable(name: str, value: object) -> None:
    """Raise ConfigurationError unless ``value`` is ``None`` or callable."""
    if value is not None and not callable(value):
        raise ConfigurationError(f"{name} must be callable, got a {type(value).__name__} object")


def payload_check(
    validate: bool, registry: BaseEventPayloadSchemaRegistry | None, dump: bool
) -> PayloadCheck:
    """How payloads are checked (``registry`` ``None``: the default one)."""
    if registry is not None and not isinstance(registry, BaseEventPayloadSchemaRegistry):
        raise ConfigurationError(
            f"payload_schema_registry must be a BaseEventPayloadSchemaRegistry, got a "
            f"{type(registry).__name__} object"
        )
    return PayloadCheck((registry or default_registry) if validate else None, dump, None)
