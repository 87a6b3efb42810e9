"""Consume Kafka topics in a consumer group (extra ``kafka``): what
:class:`~fastapi_events.handlers.kafka.KafkaForwardHandler` produces, into your handlers.

Importing this module does not import aiokafka; constructing the consumer does.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._checks import check_text
from .._redact import capped_text, describe_handler
from ..errors import ConfigurationError
from ..handlers._kafka_config import producer_config
from ..handlers.kafka import _import_aiokafka
from ._delivery import Delivery
from ._kafka_client import (
    ORDERINGS,
    check_choice,
    check_topics,
    consumer_config,
    rebalance_listener,
)
from ._kafka_offsets import Offsets
from ._kafka_order import Receipt, Sequencer, delivery_of
from ._kafka_retry import RetryWaits, copy_to
from ._options import check_seconds
from .base import Consumer

__all__ = ["KafkaConsumer"]

logger = logging.getLogger(__name__)

#: Seconds a rebalance waits, at most, for the records of revoked partitions in flight.
REVOKE_WAIT = 5.0
_RESEND_PAUSE = 1.0  # seconds between attempts to copy failed records to the retry topic


class KafkaConsumer(Consumer):
    """Read topics as a member of a consumer group and hand each record's event to your
    handlers; commit offsets only past records that were settled.

    **Commits.** Offsets are committed by hand, after handling: for each partition, up to
    the first record not *settled* yet (handled, copied to the retry topic, or
    dead-lettered). A crash or a stop never skips a record that was not settled; records
    settled after an unsettled one are read again after a restart (at least once: use
    ``deduplicate=``).

    **Order.** ``ordering="partition"`` (the default) hands a partition's records to the
    handlers one after the other, in offset order, while partitions run concurrently (up to
    ``concurrency`` records at once); ``"key"`` keeps the order per record key within a
    partition (records without a key in no order); ``None`` handles records as they come.
    A record that failed leaves the order: later records go on while it waits for its retry.

    **Retries.** A failed record is copied to ``retry_topic`` (default
    ``<first topic>.<group>.retry``; create it beside your topics, or let the cluster create
    it) with its delivery count and the time it may be handled again (the backoff delay);
    then its offset is settled. The consumer reads the retry topic too, and pauses a retry
    partition (never the others) until its first copy is due. A record that failed on its
    ``max_deliveries``-th delivery is dead-lettered. Redeliveries after a crash or a
    rebalance are not counted (Kafka keeps no delivery count).

    Args:
        topics: the topic, or topics, to read.
        handlers: the handler objects each event goes to.
        group: the consumer group (``group_id``) whose members share the partitions.
        bootstrap_servers: ``host:port`` or a list of them.
        retry_topic: the topic failed records are copied to (never one of ``topics``).
        ordering: ``"partition"``, ``"key"`` or ``None`` (see above).
        start_from: where a new group starts: ``"earliest"`` or ``"latest"``.
        poll_timeout: seconds one fetch waits for records.
        commit_interval: seconds between two commits, at most (the first after a quiet
            spell goes at once); a crash reads again what was settled meanwhile.
        client_id: the consumer's and the retry producer's client id.
        idempotent: the retry producer's ``enable_idempotence`` (brokers that refuse
            aiokafka's idempotent producer need ``False``).
        consumer_options: more ``AIOKafkaConsumer`` keywords (``session_timeout_ms``,
            ``security_protocol``, ``sasl_*``...); never logged.
        producer_options: more ``AIOKafkaProducer`` keywords for the retry producer.
        **options: the options of :class:`~fastapi_events.consumers.Consumer`.

    Raises:
        ImportError: aiokafka is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        consumer = KafkaConsumer("orders", group="billing", handlers=[local_handler])
        app = FastAPI(lifespan=consumer.lifespan)

    .. versionadded:: 1.0
    """

    messaging_system = "kafka"
    # A fetch still open at stop takes nothing it has not returned: leave it.
    wait_for_open_receive = False

    def __init__(
        self,
        topics: str | Sequence[str],
        *,
        handlers: Iterable[object],
        group: str,
        bootstrap_servers: str | Sequence[str] = "127.0.0.1:9092",
        retry_topic: str | None = None,
        ordering: str | None = "partition",
        start_from: str = "earliest",
        poll_timeout: float = 1.0,
        commit_interval: float = 0.5,
        client_id: str = "fastapi-events",
        idempotent: bool = True,
        consumer_options: Mapping[str, Any] | None = None,
        producer_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._aiokafka = _import_aiokafka()
        self.topics = check_topics(topics)
        self.group = check_text("group", group)
        self.retry_topic = check_text(
            "retry_topic", retry_topic or f"{self.topics[0]}.{self.group}.retry"
        )
        if self.retry_topic in self.topics:
            raise ConfigurationError("retry_topic must not be one of topics: pass another name")
        check_choice("ordering", ordering, ORDERINGS)
        self.ordering = ordering
        self.poll_timeout = check_seconds("poll_timeout", poll_timeout)
        self.commit_interval = check_seconds("commit_interval", commit_interval, zero=True)
        self._consumer_config = consumer_config(
            bootstrap_servers, client_id, self.group, start_from, consumer_options
        )
        self._producer_config = producer_config(
            bootstrap_servers, client_id, idempotent, 0, 10_000, producer_options
        )
        super().__init__(handlers=handlers, **options)
        self._sequencer = Sequencer()
        self._offsets = Offsets()
        self._waits = RetryWaits()
        self._client: Any = None
        self._producer: Any = None
        self._fetching: asyncio.Task[None] | None = None
        self._held: set[Any] = set()  # partitions paused while their backlog is full
        self._unsent: list[tuple[Delivery, float]] = []
        self._resend_at = 0.0

    def describe(self) -> str:
        """The class, the topics and the group."""
        where = f"{','.join(self.topics)} group {self.group}"
        return f"{describe_handler(self)}({capped_text(where, 160)})"

    # --- the broker's hooks --------------------------------------------------------------

    async def connect(self) -> None:
        """Start the retry producer and the consumer, subscribed to the topics and the
        retry topic."""
        self._producer = self._aiokafka.AIOKafkaProducer(**self._producer_config)
        self._client = self._aiokafka.AIOKafkaConsumer(**self._consumer_config)
        self._client.subscribe(
            [*self.topics, self.retry_topic],
            listener=rebalance_listener(self._aiokafka, self._revoked),
        )
        try:
            await self._producer.start()
            await self._client.start()
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Commit what was settled, then stop the consumer and the producer."""
        fetching, self._fetching = self._fetching, None
        if fetching is not None:
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)
        client, self._client = self._client, None
        producer, self._producer = self._producer, None
        if client is not None:
            with contextlib.suppress(Exception):
                await self._offsets.close(client)
            await client.stop()
        if producer is not None:
            await producer.stop()

    async def receive(self, max_messages: int) -> list[Delivery]:
        """Records ready to be handled: waiting ones whose turn came, else fetched ones."""
        self._waits.resume_due(self._client)
        self._resume_drained()
        if self._unsent and time.monotonic() >= self._resend_at:
            await self.retry(self._take_unsent())
        ready = self._sequencer.take(max_messages)
        if ready:
            return ready
        fetching = self._fetching
        if fetching is None:
            fetching = self._fetching = asyncio.create_task(self._fetch(max_messages))
        # Waiting records are handed over by next_after(): only a fetch makes records
        # ready here. Shielded: a receive given up on at stop leaves the fetch running.
        await asyncio.wait({fetching})
        self._fetching = None
        fetching.result()  # a failed fetch: the loop logs it and tries again
        return self._sequencer.take(max_messages)

    def next_after(self, delivery: Delivery) -> Delivery | None:
        """The next record of ``delivery``'s ordering group, if one waits for its turn."""
        return self._sequencer.finished(delivery)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Settle the records and commit each partition as far as it is settled."""
        for delivery in deliveries:
            receipt: Receipt = delivery.receipt
            receipt.track.settled(receipt.offset)
        self._offsets.commit_soon(self._client, self.commit_interval, self.describe)

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        """Copy the records to the retry topic, due after their delay; once the broker has
        them, settle and commit them (those it refused are copied again later)."""
        live = [(d, delay) for d, delay in retries if self._offsets.owns(d.receipt.track)]
        sends = []
        for delivery, delay in live:  # revoked partitions: their next owner reads them
            sends.append(copy_to(self._producer, self.retry_topic, delivery, delay, self.group))
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        failed = [item for item, out in zip(live, outcomes, strict=True) if out is not None]
        for (delivery, _), outcome in zip(live, outcomes, strict=True):
            if outcome is None:
                delivery.receipt.track.settled(delivery.receipt.offset)
        if failed:
            self._unsent += failed
            self._resend_at = time.monotonic() + _RESEND_PAUSE
            logger.error(
                "%s: could not copy %d record(s) to retry topic %s (%s); trying again",
                self.describe(),
                len(failed),
                self.retry_topic,
                type(next(o for o in outcomes if o is not None)).__name__,
            )
        self._offsets.commit_soon(self._client, self.commit_interval, self.describe)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Leave the records unsettled: their offsets are not committed, so the group
        reads them again (after a restart, or by the partition's next owner)."""

    # --- helpers -------------------------------------------------------------------------

    async def _fetch(self, max_records: int) -> None:
        due = self._waits.next_in()
        wait = self.poll_timeout if due is None else min(self.poll_timeout, due)
        batches = await self._client.getmany(
            timeout_ms=max(int(wait * 1000), 1), max_records=max_records
        )
        for tp, records in batches.items():
            if tp.topic == self.retry_topic:
                records = self._waits.due_part(self._client, tp, records)
            track = self._offsets.track(tp)
            for record in records:
                track.received(record.offset)
                delivery = delivery_of(record, track, self.retry_topic, self.group, self.ordering)
                if delivery is None:
                    track.settled(record.offset)
                else:
                    self._sequencer.add(delivery)
            if self._sequencer.backlog(tp) >= self.concurrency:
                self._client.pause(tp)
                self._held.add(tp)

    def _take_unsent(self) -> list[tuple[Delivery, float]]:
        unsent, self._unsent = self._unsent, []
        return unsent

    def _resume_drained(self) -> None:
        drained = [tp for tp in self._held if self._sequencer.backlog(tp) < self.concurrency]
        if drained:
            self._held.difference_update(drained)
            self._client.resume(*(tp for tp in drained if tp in self._client.assignment()))

    async def _revoked(self, partitions: set[Any]) -> None:
        """A rebalance takes ``partitions`` away: wait (a little) for their records in
        flight, commit what was settled, and forget the rest (the next owner reads it)."""
        mine = [tp for tp in partitions if tp in self._offsets.tracks]
        if not mine:
            return
        dropped = self._sequencer.drop(mine)
        self._waits.forget(mine)
        self._held.difference_update(mine)
        wait = min(REVOKE_WAIT, self.shutdown_timeout)
        await self._offsets.hand_over(self._client, mine, dropped, wait, self.describe)
