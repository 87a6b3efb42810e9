"""What the SQS and SNS forwarders share: a boto3 client used from worker threads, one batch
request per send, ``Failed[]`` entries reported (or retried) per event, and a batch the
service rejects whole for its contents sent again in halves."""

from __future__ import annotations

import asyncio
import functools
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from .._event import Event
from ..errors import AWSDeliveryError
from ..serialization import MessageFormat, SerializationError, Serializer
from ._aws_entries import AWSEntry, EntryBuilder, Wire, check_fifo, oversize_error, unique_id
from ._aws_flight import InFlight, check_max_in_flight, deliver_concurrently
from ._aws_limits import (
    DEFAULT_MAX_BYTES,
    check_limits,
    check_linger,
    halves,
    is_splittable,
    transport_error,
)
from ._batching import RetryPolicy, split_batches
from ._coalescing import Coalescer, SharedBatch, part_failures
from ._forwarding import checked
from ._outgoing import Failure, OutgoingMessage, SendResult
from .forwarder import Forwarder

__all__ = [
    "AWS_INSTALL_HINT",
    "AWSBatchForwarder",
    "MessageAttributes",
    "MessageGroupId",
    "import_boto3",
]

AWS_INSTALL_HINT = (
    "Package 'boto3' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[aws]'`"
)
#: A FIFO message group: a constant, or a function of the event.
MessageGroupId = str | Callable[[Event], str]
#: Extra string attributes: a constant mapping, or a function of the event giving one.
MessageAttributes = Mapping[str, str] | Callable[[Event], Mapping[str, str]]


class AWSBatchForwarder(Forwarder):
    """The base of :class:`SQSForwardHandler` and :class:`SNSForwardHandler`: a subclass
    names its service and implements :meth:`ping` and :meth:`_batch_call`."""

    client_per_loop = False  # boto3 clients are thread-safe
    #: Send the batches of one drain concurrently (within ``max_in_flight``) to a
    #: destination that does not keep order (not FIFO); else one after the other.
    concurrent_batches: ClassVar[bool] = False
    #: boto3's name for the service (``"sqs"``, ``"sns"``).
    service: ClassVar[str]
    #: How the service's entries and messages differ.
    wire: ClassVar[Wire]
    #: What a message the service does not take is reported with.
    delivery_error: ClassVar[type[AWSDeliveryError]]

    def __init__(
        self,
        destination: str | Callable[[Event], str],
        region_name: str | None,
        *,
        serializer: Serializer | MessageFormat | None,
        id_generator: Callable[[], str] | None,
        max_batch_size: int,
        max_bytes: int,
        message_group_id: MessageGroupId | None,
        attributes: MessageAttributes | None,
        retry: RetryPolicy | None,
        boto_client_kwargs: dict[str, Any],
        limit_hint: str,
        max_in_flight: int,
        linger: float,
    ) -> None:
        self._boto3 = import_boto3()
        check_limits(max_batch_size, max_bytes, self.wire.service, limit_hint)
        self.max_in_flight = check_max_in_flight(max_in_flight)
        self.linger = check_linger(linger)
        self.is_fifo = isinstance(destination, str) and destination.endswith(".fifo")
        check_fifo(destination, self.is_fifo, message_group_id, self.wire)
        super().__init__(
            destination,
            serializer=serializer,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_bytes,
            retry=retry,
        )
        self.region_name = region_name
        self.id_generator = id_generator
        self.max_bytes = max_bytes
        self.message_group_id = message_group_id
        self.attributes = attributes
        self.boto_client_kwargs = boto_client_kwargs
        self._builder = EntryBuilder(
            self.wire, serializer, id_generator, message_group_id, attributes
        )
        self._in_flight = InFlight(self.max_in_flight)
        self._coalescer = (
            Coalescer(self.linger, self._send_shared, self._interrupted) if self.linger else None
        )

    # --- the forwarder's hooks --------------------------------------------------------------

    async def connect(self) -> Any:
        """Create the boto3 client in a worker thread."""
        return await asyncio.to_thread(self._new_client)

    def _new_client(self) -> Any:
        return self._session_client()[1]

    def _session_client(self) -> tuple[Any, Any]:
        # A session per client: boto3 sessions are not thread-safe; clients are.
        session = self._boto3.session.Session()
        kwargs = self.boto_client_kwargs
        return session, session.client(self.service, region_name=self.region_name, **kwargs)

    async def disconnect(self, client: Any) -> None:
        """Close the client's connections (and let the worker threads end)."""
        client.close()
        self._in_flight.close()

    def encode(self, event: Event) -> AWSEntry:
        """Build the event's entry; one over the byte limit fails alone."""
        entry = self._builder.build(event)
        oversize = self._oversize(entry.entry_size)
        if oversize is not None:
            raise oversize
        return entry

    def _oversize(self, size: int) -> SerializationError | None:
        if size <= self.max_bytes:
            return None
        return oversize_error(size, self.max_bytes, self.wire.service)

    def message_size(self, message: OutgoingMessage) -> int:
        """The entry's size as the service counts it (body plus attributes)."""
        return message.entry_size if isinstance(message, AWSEntry) else message.size

    def is_transient(self, exc: Exception) -> bool:
        """Throttling, 5xx and transport errors (see ``transport_error``)."""
        return isinstance(exc, self.delivery_error) and not exc.sender_fault

    async def send(
        self, client: Any, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult:
        """One batch request; ``Failed`` entries without ``SenderFault`` are retryable."""
        requests, by_id, failed = self._requests(batch, destination.endswith(".fifo"))
        if requests:
            try:
                response = await self._send_requests(client, destination, requests)
            except Exception as exc:
                raise transport_error(exc, self.delivery_error) from exc
            failed.extend(self._failures(response.get("Failed", []), by_id))
        return SendResult(failed)

    @abstractmethod
    def _batch_call(
        self, client: Any, destination: str, requests: list[dict[str, Any]]
    ) -> Callable[[], Any]:
        """The blocking batch request sending ``requests`` to ``destination``."""

    async def _send_requests(
        self, client: Any, destination: str, requests: list[dict[str, Any]]
    ) -> Any:
        """One batch request, its answer parsed (default: the boto3 call in a thread)."""
        return await self._call(self._batch_call(client, destination, requests))

    async def _call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        return await self._in_flight.call(method, **kwargs)

    async def _forward(self, routes: dict[str, list[Event]]) -> None:
        limit = self.max_batch_bytes or DEFAULT_MAX_BYTES
        for destination, events in routes.items():
            messages = self._encoded(events, destination)
            batches: Iterable[Sequence[OutgoingMessage]] = split_batches(
                messages, self.message_size, self.max_batch_size or 1, limit
            )
            fifo = destination.endswith(".fifo")  # order within a message group: alone
            if self._coalescer is not None and not fifo:  # a first attempt may be shared
                batches = map(SharedBatch, batches)
            if self.concurrent_batches and not fifo:
                deliver = functools.partial(self._deliver, destination)
                await deliver_concurrently(batches, deliver, self.max_in_flight)
            else:
                for batch in batches:
                    await self._deliver(destination, batch)

    # --- cross-request batching (linger) ----------------------------------------------------

    async def _send_once(
        self, destination: str, batch: Sequence[OutgoingMessage]
    ) -> Sequence[Failure]:
        """A drain's first attempt joins shared requests; retries and halves go alone."""
        coalescer = self._coalescer
        if coalescer is None or not isinstance(batch, SharedBatch) or batch.tried:
            return await super()._send_once(destination, batch)
        batch.tried = True
        sizes = [self.message_size(message) for message in batch]
        limits = (self.max_batch_size or 1, self.max_batch_bytes or DEFAULT_MAX_BYTES)
        parts = coalescer.submit(destination, batch, sizes, limits)
        outcomes = await coalescer.wait(parts, self.in_flight_grace, self._delivered)
        errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if len(errors) == len(outcomes):
            raise errors[0]  # as a request of its own would have failed
        result = SendResult(part_failures(parts, outcomes, self._retry_alone))
        self._delivered(batch, result)
        return result.failed

    def _retry_alone(self, exc: Exception) -> bool:
        """Whether messages of a shared request that failed whole may go through alone."""
        splittable = isinstance(exc, AWSDeliveryError) and is_splittable(exc.code)
        return splittable or self.is_transient(exc)

    async def _send_shared(self, destination: str, batch: list[OutgoingMessage]) -> SendResult:
        return await checked(self.send(await self.get_client(), destination, batch))

    def _interrupted(self) -> Exception:
        return self.delivery_error(
            "the shared batch request was cancelled before its answer",
            code="Cancelled",
            sender_fault=False,
        )

    def _requests(
        self, batch: Sequence[OutgoingMessage], fifo: bool
    ) -> tuple[list[dict[str, Any]], dict[str, OutgoingMessage], list[Failure]]:
        """The request entries of ``batch`` by unique id, and the messages that have none."""
        failed: list[Failure] = []
        by_id: dict[str, OutgoingMessage] = {}
        requests = []
        for message in batch:
            assert isinstance(message, AWSEntry)
            entry_id = unique_id(message.entry_id, by_id)
            try:
                requests.append(self._builder.request(message, entry_id, fifo))
            except Exception as exc:
                failed.append(Failure(message, exc))
                continue
            by_id[entry_id] = message
        return requests, by_id, failed

    def _failures(
        self, failed: list[dict[str, Any]], by_id: Mapping[str, OutgoingMessage]
    ) -> list[Failure]:
        failures = []
        for failure in failed:
            message = by_id.get(str(failure.get("Id")))
            if message is None:  # not an entry of ours: nothing to report it against
                continue
            code = str(failure.get("Code", ""))
            error = self.delivery_error(
                f"{self.wire.service} refused the message: {code}: {failure.get('Message', '')}",
                code=code,
                sender_fault=bool(failure.get("SenderFault")),
            )
            failures.append(Failure(message, error, retryable=not error.sender_fault))
        return failures

    async def _reject(
        self, destination: str, batch: Sequence[OutgoingMessage], exc: Exception
    ) -> None:
        """A batch the service rejects whole for its contents is sent again in halves until
        only the entries at fault remain, one by one (a batch of n takes at most 2n - 1
        parts)."""
        if len(batch) > 1 and isinstance(exc, AWSDeliveryError) and is_splittable(exc.code):
            for half in halves(list(batch)):
                await self._deliver(destination, half)
            return
        await super()._reject(destination, batch, exc)


def import_boto3() -> Any:
    """The ``boto3`` module.

    Raises:
        ImportError: boto3 is not installed; the message names the extra.
    """
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(AWS_INSTALL_HINT) from exc
    return boto3
