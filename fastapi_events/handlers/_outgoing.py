"""The data a forwarder's hooks exchange with its base: messages out, outcomes back."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .._event import Event
from .._redact import capped_repr, capped_text
from ..errors import ConfigurationError

__all__ = [
    "Destination",
    "Failure",
    "OutgoingMessage",
    "SendResult",
    "check_destination",
    "check_limit",
    "error_detail",
    "given_name",
    "resolve_destination",
    "route",
    "span_destination",
]

#: Where an event goes: a fixed name (topic, stream, queue URL...) or ``event -> name``.
Destination = str | Callable[[Event], str]

# scheme://user:password@host -> scheme://***@host (a client's error may quote its URL).
_USERINFO = re.compile(r"(\w[\w+.-]*://)[^/@\s]*@")
_DETAIL_LIMIT = 200


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One event made ready to send by :meth:`Forwarder.encode`.

    Attributes:
        event: the event it carries (its id, name, correlation id, trace context).
        body: the message body (by default 0.12's JSON array ``["name", payload]``).
        attributes: string metadata for the broker's headers or attributes (``event_name``,
            ``event_id``, ``content_type``, ``correlation_id``, ``traceparent``...).

    .. versionadded:: 1.0
    """

    event: Event
    body: bytes
    attributes: Mapping[str, str]

    @property
    def size(self) -> int:
        """Bytes of the body plus the attribute names and values (UTF-8)."""
        extra = sum(len(k.encode()) + len(v.encode()) for k, v in self.attributes.items())
        return len(self.body) + extra


@dataclass(frozen=True, slots=True)
class Failure:
    """One message of a batch the broker did not take.

    Attributes:
        message: the message, as :meth:`Forwarder.send` received it in its batch.
        error: why; it reaches the error hook if the event is reported.
        retryable: sending the same message again may work (the base retries it with
            backoff); ``False`` reports the event now.

    .. versionadded:: 1.0
    """

    message: OutgoingMessage
    error: BaseException
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of a batch: every message not in :attr:`failed` was delivered.

    .. versionadded:: 1.0
    """

    failed: Sequence[Failure] = ()

    def delivered(self, batch: Iterable[OutgoingMessage]) -> list[OutgoingMessage]:
        """The messages of ``batch`` not in :attr:`failed`, in order."""
        failed = {id(failure.message) for failure in self.failed}
        return [message for message in batch if id(message) not in failed]


def check_destination(destination: object, label: str = "destination") -> None:
    """Check a configured destination: a non-empty str or a callable.

    Raises:
        ConfigurationError: it is neither.
    """
    if callable(destination) or (isinstance(destination, str) and destination):
        return
    raise ConfigurationError(
        f"{label} must be a non-empty str or a function (event) -> str, "
        f"got {capped_repr(destination)}"
    )


def check_limit(label: str, value: object) -> None:
    """Check a batch limit: an int >= 1, or ``None`` for none.

    Raises:
        ConfigurationError: it is neither.
    """
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return
    raise ConfigurationError(f"{label} must be an int >= 1 or None, got {capped_repr(value)}")


def route(
    events: Iterable[Event],
    destination: Destination,
    on_error: Callable[[Event, Exception], None],
) -> dict[str, list[Event]]:
    """Group ``events`` by destination, in order; ``on_error`` gets an event whose
    destination function fails."""
    routes: dict[str, list[Event]] = {}
    for event in events:
        try:
            name = resolve_destination(destination, event)
        except Exception as exc:
            on_error(event, exc)
        else:
            routes.setdefault(name, []).append(event)
    return routes


def resolve_destination(destination: Destination, event: Event) -> str:
    """The destination of ``event``.

    Raises:
        ConfigurationError: a destination function gave no usable name.
    """
    if not callable(destination):
        return destination
    return given_name(destination(event), "the destination function", event)


def given_name(value: object, source: str, event: Event) -> str:
    """``value`` if it is the non-empty str ``source`` (a per-event option) should give.

    Raises:
        ConfigurationError: naming ``source``, the type it gave (never its content) and
            the event.
    """
    if not isinstance(value, str) or not value:
        got = "an empty str" if isinstance(value, str) else type(value).__name__
        raise ConfigurationError(
            f"{source} must give a non-empty str, got {got} for event {capped_repr(event.key)}"
        )
    return value


def span_destination(destinations: Sequence[str]) -> str:
    """The ``messaging.destination.name`` of a batch: its destination, or ``(routed)``
    when its events go to several."""
    first = destinations[0] if destinations else "(none)"
    return first if all(name == first for name in destinations) else "(routed)"


def error_detail(exc: BaseException) -> str:
    """An error as health detail: its type and capped text, URL credentials masked."""
    text = _USERINFO.sub(r"\1***@", str(exc))
    return (
        f"{type(exc).__name__}: {capped_text(text, _DETAIL_LIMIT)}" if text else type(exc).__name__
    )
