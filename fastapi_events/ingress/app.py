"""The HTTP ingress: one ASGI endpoint receiving events into your handlers.

.. versionadded:: 1.0
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from typing import Any

from .._asgi import serve_lifespan
from .._checks import check_count, check_seconds
from .._pipeline import DEFAULT_SHUTDOWN_TIMEOUT, EventPipeline
from .._redact import describe_handler
from .._reporting import ErrorHook
from .._service import Service
from ..consumers._handling import FailureRecorder
from ..consumers._options import idempotency_store
from ..consumers.idempotency import IdempotencyStore
from ..errors import ConfigurationError, IngressError
from ..registry.base import BaseEventPayloadSchemaRegistry
from ..typing import Receive, Scope, Send
from ._body import read_request, send_json
from ._formats import FORMATS, check_formats, parse
from ._handling import IngressHandling, IngressStats, Outcome
from ._options import (
    ALLOW_UNAUTHENTICATED,
    AllowUnauthenticated,
    check_callable,
    check_verifier,
    payload_check,
)
from ._request import IngressRequest, Verifier
from ._sns import SNSSubscriptionCallback, SNSSubscriptionMessage, hand_over

__all__ = [
    "ALLOW_UNAUTHENTICATED",
    "DEFAULT_MAX_BODY_BYTES",
    "FORMATS",
    "EventIngress",
    "SNSSubscriptionCallback",
]

logger = logging.getLogger("fastapi_events.ingress")

#: The default cap on a request body: 1 MiB.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class EventIngress(Service):
    """An ASGI app receiving events over HTTP and handing them to your handler objects.

    It reads CloudEvents (binary ``ce-*`` headers, ``application/cloudevents+json`` and
    ``application/cloudevents-batch+json``), Pub/Sub push envelopes and SNS HTTP
    notifications; checks each request with ``verifier`` (401 when refused); decodes the
    events (same id, name, payload, timestamp, correlation id and trace context as at
    dispatch); validates payloads against the schema registry (422 naming the field
    paths); and hands each event to every handler. The answer is 200 only once every
    handler took every event; 500 (or 503) otherwise, so the sender delivers again. A batch
    is all or nothing: one failed event fails the request, and the retry brings every
    event of it again (``deduplicate=`` skips those already handled). Bad bodies get 400
    naming the field, bodies over ``max_body_bytes`` 413 (refused before reading more than
    the cap), other content types 415. Nothing in a message selects code to run: names only
    match the handlers and schemas you registered.

    Args:
        handlers: the handler objects each event goes to (a ``LocalHandler``, forwarders,
            any ``BaseEventHandler``).
        verifier: a :class:`~fastapi_events.ingress.Verifier` (required), or
            :data:`ALLOW_UNAUTHENTICATED` to opt out visibly.
        formats: the formats accepted, some of ``"cloudevents"``, ``"pubsub"``, ``"sns"``.
        max_body_bytes: the largest body accepted (default 1 MiB).
        validate_payload: check payloads against ``payload_schema_registry``.
        payload_schema_registry: the schemas (default: the registry ``dispatch`` uses).
        payload_schema_dump: hand handlers the validated model dumped to a dict (``False``:
            the model instance), as ``dispatch`` does.
        deduplicate: ``True`` for an in-memory idempotency store, or a store of your own
            (:class:`~fastapi_events.consumers.IdempotencyStore`): an event id handled once
            is answered 200 without handling it again.
        on_error: ``on_error(event, handler, exception)``, once per event a handler failed
            on (its request is answered 500).
        on_sns_subscription: ``callback(message)`` (sync or async) for SNS
            ``SubscriptionConfirmation`` / ``UnsubscribeConfirmation`` messages; without
            it they are logged and ignored. Never confirmed automatically.
        shutdown_timeout: seconds :meth:`stop` waits for events handlers dispatched.
        tracer_provider: OpenTelemetry tracer provider for the handler spans.
        meter_provider: OpenTelemetry meter provider.

    Raises:
        ConfigurationError: no ``verifier``, or an argument of the wrong type or range.

    Example::

        ingress = EventIngress(handlers=[local_handler], verifier=HMACVerifier(secret))
        app = FastAPI(lifespan=ingress.lifespan)
        app.add_route("/events", ingress, methods=["POST"])

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        *,
        handlers: Iterable[object],
        verifier: Verifier | AllowUnauthenticated | None = None,
        formats: Iterable[str] = FORMATS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        validate_payload: bool = True,
        payload_schema_registry: BaseEventPayloadSchemaRegistry | None = None,
        payload_schema_dump: bool = True,
        deduplicate: bool | IdempotencyStore = False,
        on_error: ErrorHook | None = None,
        on_sns_subscription: SNSSubscriptionCallback | None = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        self.verifier = check_verifier(verifier)
        self.formats = check_formats(formats)
        self.max_body_bytes = check_count("max_body_bytes", max_body_bytes)
        self.shutdown_timeout = check_seconds("shutdown_timeout", shutdown_timeout, zero=True)
        check_callable("on_error", on_error)
        check_callable("on_sns_subscription", on_sns_subscription)
        self.on_sns_subscription = on_sns_subscription
        self.stats = IngressStats()
        self.idempotency = idempotency_store(deduplicate)
        recorder = FailureRecorder(on_error)
        self.pipeline = EventPipeline(
            handlers,
            middleware_id=id(self),
            on_error=recorder,
            shutdown_timeout=self.shutdown_timeout,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        if not self.pipeline.handlers:
            raise ConfigurationError("EventIngress needs handlers=[...], e.g. [local_handler]")
        #: The handler objects each event goes to (validated).
        self.handlers = self.pipeline.handlers
        self._handling = IngressHandling(
            self.pipeline,
            recorder,
            payload_check(validate_payload, payload_schema_registry, payload_schema_dump),
            store=self.idempotency,
            on_error=on_error,
            stats=self.stats,
        )
        self._started = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the running loop and start the handlers (``astart``); done by the lifespan,
        or at the first request if the app never ran one (a mounted app sees none)."""
        if self._started:
            return
        self._started = True
        await self.pipeline.start()

    async def stop(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (default ``shutdown_timeout``) for events the
        handlers dispatched, report what is left, close the handlers."""
        if not self._started:
            return
        self._started = False
        await self.pipeline.shutdown(self.shutdown_timeout if timeout is None else timeout)

    # --- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: ``http`` requests, ``lifespan`` when run as the app."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await serve_lifespan(receive, send, self.start, self.stop)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.stats.requests += 1
        if scope.get("method") != "POST":
            body = {"error": "method not allowed: events are POSTed"}
            await send_json(send, 405, body, [(b"allow", b"POST")])
            return
        await self.start()
        self.pipeline.bind_loop()
        try:
            outcome = await self._answer(scope, receive)
        except IngressError as exc:
            outcome = self._refused(exc)
        if outcome is not None:
            await send_json(send, outcome.status, outcome.body)

    async def _answer(self, scope: Scope, receive: Receive) -> Outcome | None:
        request = await read_request(scope, receive, self.max_body_bytes)
        if request is None:
            return None  # the client went away: nothing was handled, nobody to answer
        refusal = await self._verify(request)
        if refusal is not None:
            return refusal
        outcome: Outcome | None = None
        try:
            outcome = await self._accepted(request)
        finally:
            if outcome is None or outcome.status >= 300:
                self._forget(request)
        return outcome

    async def _accepted(self, request: IngressRequest) -> Outcome:
        try:
            parsed = parse(request, self.formats)
        except IngressError:
            raise
        except Exception as exc:  # a bug here must not echo the body: its type only
            logger.error("ingress could not read a request: %s", type(exc).__name__)
            return Outcome(500, {"error": "the request could not be read"})
        if isinstance(parsed, SNSSubscriptionMessage):
            return await hand_over(self.on_sns_subscription, parsed)
        events = self._handling.validated(parsed)
        self.stats.events += len(events)
        return await self._handling.handle(events)

    def _forget(self, request: IngressRequest) -> None:
        """Tell a verifier with ``forget(request)`` that ``request`` was not accepted, so
        the sender's retry of it is not refused as a replay."""
        forget = getattr(self.verifier, "forget", None)
        if callable(forget):
            forget(request)

    async def _verify(self, request: IngressRequest) -> Outcome | None:
        verifier = self.verifier
        if verifier is None:
            return None
        try:
            result = verifier.verify(request)
            if inspect.isawaitable(result):
                await result
        except IngressError:
            raise
        except Exception as exc:
            logger.error(
                "verifier %s raised %s: answered 503",
                describe_handler(verifier),
                type(exc).__name__,
            )
            return Outcome(503, {"error": "the request could not be verified now"})
        return None

    def _refused(self, exc: IngressError) -> Outcome:
        if exc.status == 401:
            self.stats.unauthorized += 1
            logger.warning("ingress refused a request: 401 %s", exc)
        else:
            self.stats.rejected += 1
            logger.info("ingress refused a request: %d %s", exc.status, exc)
        return Outcome(exc.status, {"error": str(exc)})

    def __repr__(self) -> str:
        return f"<EventIngress formats={sorted(self.formats)} verifier={self.verifier!r}>"
