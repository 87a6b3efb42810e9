"""SQS and SNS limits: the configured caps and linger, an SQS queue's own
``MaximumMessageSize``, which whole-batch rejections a smaller batch can avoid, and which
failed calls are worth retrying."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from .._redact import capped_repr
from ..errors import AWSDeliveryError, ConfigurationError
from ..serialization import SerializationError
from ._aws_entries import oversize_error

__all__ = [
    "DEFAULT_LINGER",
    "DEFAULT_MAX_BYTES",
    "MAX_ENTRIES",
    "MAX_LINGER",
    "SPLITTABLE_CODES",
    "ByteLimit",
    "check_limits",
    "check_linger",
    "error_code",
    "halves",
    "is_splittable",
    "transport_error",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: SQS's limit per message and per SendMessageBatch request since 2025 (1 MiB); also the
#: largest ``MaximumMessageSize`` an SNS topic can be given.
DEFAULT_MAX_BYTES = 1024 * 1024
#: SQS and SNS take at most 10 entries per batch request.
MAX_ENTRIES = 10
#: Codes of a batch request rejected whole (a sender fault) that a smaller batch can
#: avoid: one entry too big or invalid, or the entries together too big or too many.
#: SQS's and SNS's codes (``InvalidParameter``, ``ParameterValueInvalid``) together.
SPLITTABLE_CODES = frozenset(
    {
        "InvalidParameterValue",
        "InvalidMessageContents",
        "MissingParameter",
        "BatchRequestTooLong",
        "TooManyEntriesInBatchRequest",
        "BatchEntryIdsNotDistinct",
        "InvalidBatchEntryId",
        "InvalidParameter",
        "ParameterValueInvalid",
    }
)

#: Seconds a batch request waits for more drains' messages before it is sent part-full.
#: At 1,000 requests/s of 3 events, 10 entries arrive in about 3 ms; measured at +20 ms
#: per call (``benchmarks/forwarding_linger.py``), 5 ms made 0.101 calls per event, 10 ms
#: 0.100. The drain runs after the response, so the wait is not the client's.
DEFAULT_LINGER = 0.01
#: A longer wait holds every drain (and its request's task) for nothing.
MAX_LINGER = 1.0


class ByteLimit:
    """The byte limit per message and per batch: ``max_bytes``, capped by an SQS queue's
    own ``MaximumMessageSize`` once that has been read."""

    def __init__(self, configured: int) -> None:
        self.configured = configured
        self.current = configured
        self._warned = False

    def refresh(self, client: Any, queue_url: str) -> None:
        """Read the queue's ``MaximumMessageSize`` and cap the limit with it (a blocking
        call: run it in a worker thread). On failure, warn once and keep ``max_bytes``."""
        try:
            response = client.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["MaximumMessageSize"]
            )
            queue_limit = int(response["Attributes"]["MaximumMessageSize"])
        except Exception as exc:
            self._warn(queue_url, exc)
            return
        self.current = min(self.configured, queue_limit)

    def _warn(self, queue_url: str, exc: Exception) -> None:
        if self._warned:
            return
        self._warned = True
        logger.warning(
            "could not read the MaximumMessageSize of %s (%s); keeping max_bytes=%d, and "
            "a batch SQS rejects for size is split until only the oversize message fails",
            queue_url,
            error_code(exc),
            self.configured,
        )

    def oversize(self, size: int) -> SerializationError | None:
        """The error for a message of ``size`` bytes if it is over the limit, else None."""
        if size <= self.current:
            return None
        source = " (the queue's MaximumMessageSize)" if self.current < self.configured else ""
        return oversize_error(size, self.current, "SQS", source)


def error_code(exc: BaseException) -> str:
    """The service's error code of a botocore ``ClientError``, else the exception's type
    name."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def is_splittable(code: str) -> bool:
    """Whether a batch rejected whole with ``code`` may go through in smaller parts.

    SQS's JSON protocol reports the legacy query codes (``x-amzn-query-error``), and botocore
    gives those, e.g. ``AWS.SimpleQueueService.BatchRequestTooLong``: the prefix is ignored.
    """
    return code.rpartition(".")[2] in SPLITTABLE_CODES


def halves(batch: list[T]) -> tuple[list[T], list[T]]:
    """Split a batch of at least two entries into two non-empty halves, in order."""
    middle = len(batch) // 2
    return batch[:middle], batch[middle:]


def check_linger(value: object) -> float:
    """``value`` as seconds if it is a number from 0 to :data:`MAX_LINGER`.

    Raises:
        ConfigurationError: it is not (the message names its type and the fix).
    """
    shown = type(value).__name__
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value) and 0 <= value <= MAX_LINGER:
            return float(value)
        shown = f"{shown} {capped_repr(value)}"
    raise ConfigurationError(
        f"linger must be a number of seconds from 0 to {MAX_LINGER}, got {shown}; pass e.g. "
        f"linger={DEFAULT_LINGER}, or linger=0 to send each drain's batches alone"
    )


def check_limits(max_batch_size: object, max_bytes: object, service: str, hint: str) -> None:
    """Validate the configured limits (``hint`` ends the ``max_bytes`` message).

    Raises:
        ConfigurationError: ``max_batch_size`` or ``max_bytes`` is outside the service's
            limits.
    """
    if (
        isinstance(max_batch_size, bool)
        or not isinstance(max_batch_size, int)
        or not (1 <= max_batch_size <= MAX_ENTRIES)
    ):
        raise ConfigurationError(
            f"max_batch_size must be between 1 and {MAX_ENTRIES} ({service} limit), "
            f"got {capped_repr(max_batch_size)}"
        )
    if (
        isinstance(max_bytes, bool)
        or not isinstance(max_bytes, int)
        or not (1024 <= max_bytes <= DEFAULT_MAX_BYTES)
    ):
        raise ConfigurationError(
            f"max_bytes must be an int from 1024 to {DEFAULT_MAX_BYTES} ({service} limit), "
            f"got {capped_repr(max_bytes)}; {hint}"
        )


def transport_error(exc: Exception, error: type[AWSDeliveryError]) -> AWSDeliveryError:
    """Classify a failed call as ``error``: throttling, 5xx and connection errors are worth
    retrying (``sender_fault`` false), anything else the service answered is not."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):  # botocore ClientError
        code = error_code(exc)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        transient = status >= 500 or status == 429 or "Throttl" in code
        classified = error(str(exc), code=code, sender_fault=not transient)
    else:  # connection refused, timeouts, ...: the request may not have arrived
        classified = error(str(exc) or repr(exc), code=type(exc).__name__, sender_fault=False)
    classified.__cause__ = exc
    return classified
