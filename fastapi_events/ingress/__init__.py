"""HTTP ingress: events pushed to your app over HTTP, into the same local handlers.

CloudEvents (binary, structured and batch), Pub/Sub push envelopes and SNS HTTP
notifications are received by one ASGI endpoint, verified (nobody gets in unauthenticated
unless you opt out explicitly), decoded back into :class:`~fastapi_events.Event` and handed
to your handlers; the answer is 2xx only once they succeeded, so the sender retries
otherwise.

Example::

    from fastapi_events.ingress import EventIngress, HMACVerifier, PubSubOIDCVerifier

    ingress = EventIngress(handlers=[local_handler], verifier=HMACVerifier(secret))
    # Pub/Sub push: verifier=PubSubOIDCVerifier(audience="https://svc.example/events")
    # SNS: verifier=SNSSignatureVerifier(topic_arns=[topic_arn])
    app = FastAPI(lifespan=ingress.lifespan)
    app.add_route("/events", ingress, methods=["POST"])

Importing this package imports no web framework and no verifier's dependency.

.. versionadded:: 1.0
"""

from __future__ import annotations

from ._handling import IngressStats
from ._request import IngressRequest, Verifier
from ._sns import SNSSubscriptionMessage
from .app import ALLOW_UNAUTHENTICATED, DEFAULT_MAX_BODY_BYTES, FORMATS, EventIngress
from .hmac import HMACVerifier
from .oidc import PubSubOIDCVerifier
from .sns_signature import SNSSignatureVerifier

__all__ = [
    "ALLOW_UNAUTHENTICATED",
    "DEFAULT_MAX_BODY_BYTES",
    "FORMATS",
    "EventIngress",
    "HMACVerifier",
    "IngressRequest",
    "IngressStats",
    "PubSubOIDCVerifier",
    "SNSSignatureVerifier",
    "SNSSubscriptionMessage",
    "Verifier",
]
