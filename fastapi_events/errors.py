"""Exceptions raised or reported by fastapi_events, all in this module.

Every exception derives from :class:`FastapiEventError`, which derives from
:class:`Exception` (0.12 derived from ``BaseException``, so ``except Exception``
missed it)::

    FastapiEventError
    ├── ConfigurationError                        bad argument, handler or schema (construction)
    ├── MissingEventNameError
    │   ├── MissingEventNameDuringRegistration
    │   └── MissingEventNameDuringDispatch
    ├── MultiplePayloadsDetectedDuringDispatch    (also ValueError)
    ├── InvalidEventNameError                     (also TypeError)
    ├── OutsideEventScopeError                    (also LookupError)
    │   └── UnknownMiddlewareIdError
    ├── PendingEventsTimeout                      raised by waits (also TimeoutError)
    ├── SerializationError                        an event <-> a message (also ValueError)
    ├── AWSDeliveryError                          reported per event by an AWS forwarder
    │   ├── SQSDeliveryError                      the SQS forwarder
    │   └── SNSDeliveryError                      the SNS forwarder
    ├── RabbitMQDeliveryError                     reported per event by the RabbitMQ forwarder
    ├── IngressError                              an HTTP ingress request refused (4xx)
    │   └── IngressUnauthorizedError              it could not be verified (401)
    └── reported to ``on_error`` for events never handled:
        ├── OutboxRelayLostError                  its relay died during its last attempt
        ├── EventDeadLetteredError                retries exhausted, sent to dead_letter=
        ├── RedeliveryLimitError                  a consumer got it too often, no failure seen
        ├── ShutdownTimeoutError                  (also TimeoutError)
        ├── EventsCancelledError
        ├── EventsDroppedError                    background queues full (max_pending)
        └── EventLoopClosedError                  (also RuntimeError)
"""

from __future__ import annotations

from typing import Any

from ._redact import capped_repr, capped_text

__all__ = [
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
]


class FastapiEventError(Exception):
    """Base class of every error raised by fastapi_events."""


class ConfigurationError(FastapiEventError):
    """A handler, middleware, schema or option was configured wrongly."""


class MissingEventNameError(FastapiEventError):
    """An event name was needed but none could be found."""


class MissingEventNameDuringRegistration(MissingEventNameError):
    """A schema was registered without ``event_name=`` or ``__event_name__``."""


class MissingEventNameDuringDispatch(MissingEventNameError):
    """A model was dispatched without ``event_name=`` or ``__event_name__``."""


class MultiplePayloadsDetectedDuringDispatch(FastapiEventError, ValueError):
    """``dispatch()`` received a model *and* a ``payload=``."""


class InvalidEventNameError(FastapiEventError, TypeError):
    """An event name that is neither a ``str`` nor an ``Enum``.

    .. versionadded:: 1.0
    """


class OutsideEventScopeError(FastapiEventError, LookupError):
    """``dispatch()`` was called outside any request and without ``middleware_id``.

    Also a :class:`LookupError`, which is what 0.12 raised here.

    .. versionadded:: 1.0
    """


class UnknownMiddlewareIdError(OutsideEventScopeError):
    """``dispatch(middleware_id=...)`` named an id no middleware registered.

    .. versionadded:: 1.0
    """


class EventsCancelledError(FastapiEventError):
    """Passed to the error hook for each event whose background task was cancelled before
    the event was handled (for example, the event loop was closed under it).

    .. versionadded:: 1.0
    """


class ShutdownTimeoutError(FastapiEventError, TimeoutError):
    """Passed to the error hook for each event still unhandled at shutdown.

    .. versionadded:: 1.0
    """


class EventLoopClosedError(FastapiEventError, RuntimeError):
    """Passed to the error hook for an event dispatched from another thread after the event
    loop of its middleware has stopped: nothing could ever handle it.

    .. versionadded:: 1.0
    """


class PendingEventsTimeout(FastapiEventError, TimeoutError):
    """Raised by ``wait_for_pending()`` and the test kit's waits when events are still
    pending after the timeout; :attr:`events` holds them and the message names up to ten.

    .. versionadded:: 1.0
    """

    def __init__(self, events: list[Any], timeout: float | None) -> None:
        names = ", ".join(f"{capped_repr(e.key, 60)} (id {e.id})" for e in events[:10])
        more = f" and {len(events) - 10} more" if len(events) > 10 else ""
        super().__init__(f"{len(events)} event(s) still pending after {timeout}s: {names}{more}")
        self.events = events


class AWSDeliveryError(FastapiEventError):
    """An AWS service did not take a message (permanently, or after every retry); reported
    per event. Catch it for either forwarder; each raises its own subclass.

    Attributes:
        code: the service's error code (``"InvalidParameterValue"``...) or the transport
            error's name.
        sender_fault: the service's verdict: ``True`` when retrying the same message cannot
            work.

    .. versionadded:: 1.0
    """

    def __init__(self, message: str, *, code: str, sender_fault: bool) -> None:
        super().__init__(capped_text(message))  # the service's or botocore's text, capped
        self.code = code
        self.sender_fault = sender_fault


class RabbitMQDeliveryError(FastapiEventError):
    """RabbitMQ did not take a message: returned it as unroutable (``mandatory``), or
    refused it (``basic.nack``) on every retry; reported per event.

    Attributes:
        reason: ``"unroutable"`` or ``"nacked"``.
        reply_code: AMQP's reply code of a returned message (``312``: NO_ROUTE), else
            ``None``.

    .. versionadded:: 1.0
    """

    def __init__(self, message: str, *, reason: str, reply_code: int | None = None) -> None:
        super().__init__(capped_text(message, 400))
        self.reason = reason
        self.reply_code = reply_code


class SQSDeliveryError(AWSDeliveryError):
    """SQS did not take a message (permanently, or after every retry); reported per event.

    .. versionadded:: 1.0
    """


class SNSDeliveryError(AWSDeliveryError):
    """SNS did not take a message (permanently, or after every retry); reported per event.

    .. versionadded:: 1.0
    """


class SerializationError(FastapiEventError, ValueError):
    """An event could not be turned into a message (or a message back into an event); only
    that event is reported.

    .. versionadded:: 1.0
    """


class OutboxRelayLostError(FastapiEventError):
    """Passed to the outbox relay's ``on_error`` (and logged) for an event whose relay
    died (its lease ran out) during the event's last allowed attempt: the row is dead
    without another try, so an event that kills its relay cannot kill every relay.

    .. versionadded:: 1.0
    """


class EventDeadLetteredError(FastapiEventError):
    """Passed to the error hook for an event a local handler function failed on every
    attempt of its retry policy, once the event went to the middleware's ``dead_letter``
    handler. ``__cause__`` is the last failure; :attr:`attempts` how many were made.

    .. versionadded:: 1.0
    """

    def __init__(self, attempts: int) -> None:
        super().__init__(f"failed {attempts} time(s); sent to the dead-letter handler")
        self.attempts = attempts


class EventsDroppedError(FastapiEventError):
    """Passed to the error hook for an event turned away because the middleware's background
    queues held ``max_pending`` events already (and there was no spool to spill it to).

    .. versionadded:: 1.0
    """


class RedeliveryLimitError(FastapiEventError):
    """Passed to a consumer's ``on_error`` for an event delivered more than
    ``max_deliveries`` times with no failure on record: the workers holding it died (or
    were stopped past their timeout) while it was in flight, so it is dead-lettered
    without another try (an event that kills its worker cannot kill every worker).

    Attributes:
        deliveries: how many times the broker had delivered the message.

    .. versionadded:: 1.0
    """

    def __init__(self, message: str, *, deliveries: int) -> None:
        super().__init__(message)
        self.deliveries = deliveries


class IngressError(FastapiEventError):
    """An HTTP ingress request refused: a bad body, header or size (answered with ``status``).

    The message names what is wrong (a field path, a type, a size), never a value.

    Attributes:
        status: the HTTP status the ingress answers (4xx).

    .. versionadded:: 1.0
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class IngressUnauthorizedError(IngressError):
    """An HTTP ingress request its verifier could not verify (answered with 401).

    .. versionadded:: 1.0
    """

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message, status=status)
