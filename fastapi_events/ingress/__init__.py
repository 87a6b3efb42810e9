"""HTTP ingress: events pushed to your app over HTTP, into the same local handlers.

CloudEvents (binary, structured and batch), Pub/Sub push envelopes and SNS HTTP
notifications are received by one ASGI endpoint, verified (nobody gets in unauthenticated
unless you opt out explicitly), decoded back into :class:`~fastapi_events.Event` and handed
to your handlers; the answer is 2xx only once they succeeded, so the sender retries
otherwise.

.. versionadded:: 1.0
"""

from __future__ import annotations

from ._request import IngressRequest, Verifier

__all__ = ["IngressRequest", "Verifier"]
