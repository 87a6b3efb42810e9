"""Which format a request is in (from its headers, never from code it names) and its events."""

from __future__ import annotations

from collections.abc import Iterable

from .._event import Event
from .._redact import capped_repr
from ..errors import ConfigurationError, IngressError
from ._cloudevents import CE_BATCH, CE_JSON, batch_events, binary_events, structured_event
from ._fields import load_json
from ._pubsub import pubsub_events
from ._request import IngressRequest
from ._sns import SNSSubscriptionMessage, sns_message

__all__ = ["CLOUDEVENTS", "FORMATS", "PUBSUB", "SNS", "check_formats", "media_type", "parse"]

CLOUDEVENTS, PUBSUB, SNS = "cloudevents", "pubsub", "sns"
#: Every format the ingress reads.
FORMATS = (CLOUDEVENTS, PUBSUB, SNS)
_SNS_TYPE_HEADER = "x-amz-sns-message-type"
_SNS_MEDIA_TYPES = ("text/plain", "application/json")
_JSON = "application/json"


def check_formats(formats: Iterable[str]) -> frozenset[str]:
    """``formats`` as a set, each one of :data:`FORMATS`.

    Raises:
        ConfigurationError: not an iterable of known format names, or empty.
    """
    if isinstance(formats, str) or not isinstance(formats, Iterable):
        raise ConfigurationError(
            f"formats must be a list of format names, got {type(formats).__name__}; "
            f"pass e.g. formats=['cloudevents']"
        )
    chosen = frozenset(formats)
    unknown = sorted(map(capped_repr, chosen - set(FORMATS)))
    if unknown or not chosen:
        raise ConfigurationError(
            f"formats must name some of {', '.join(FORMATS)}; got {', '.join(unknown) or 'none'}"
        )
    return chosen


def media_type(content_type: str | None) -> str:
    """The media type of a ``content-type`` header, lower case, parameters dropped."""
    return (content_type or "").partition(";")[0].strip().lower()


def parse(request: IngressRequest, formats: frozenset[str]) -> list[Event] | SNSSubscriptionMessage:
    """The events of ``request`` (or the SNS subscription message it is).

    Raises:
        IngressError: a content type or encoding no accepted format has (415), or a body
            that is not what its format says (400; the message names the field).
    """
    encoding = (request.header("content-encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise IngressError("compressed bodies are not accepted (content-encoding)", status=415)
    media = media_type(request.header("content-type"))
    if CLOUDEVENTS in formats:  # the content type says structured first (HTTP binding 3)
        if media == CE_JSON:
            return [structured_event(request)]
        if media == CE_BATCH:
            return batch_events(request)
        if request.header("ce-specversion") is not None:
            return binary_events(request, media)
    sns_type = request.header(_SNS_TYPE_HEADER)
    if SNS in formats and sns_type is not None and media in _SNS_MEDIA_TYPES:
        return sns_message(load_json(request.body), sns_type)
    if PUBSUB in formats and media == _JSON and sns_type is None:
        return pubsub_events(load_json(request.body))
    raise IngressError(_unsupported(media, formats), status=415)


def _unsupported(media: str, formats: frozenset[str]) -> str:
    expected = []
    if CLOUDEVENTS in formats:
        expected += ["ce-* headers (binary CloudEvents)", CE_JSON, CE_BATCH]
    if PUBSUB in formats:
        expected.append(f"{_JSON} (a Pub/Sub push envelope)")
    if SNS in formats:
        expected.append(f"an SNS message ({_SNS_TYPE_HEADER} header)")
    got = capped_repr(media, 80) if media else "no content-type"
    return f"unsupported content type {got}; expected {', '.join(expected)}"
