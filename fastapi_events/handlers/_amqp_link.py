"""The client of :class:`~fastapi_events.handlers.rabbitmq.RabbitMQForwardHandler`: one AMQP
connection and one publishing channel, opened again on demand after a loss.

aio-pika's robust connection reconnects in the background, on its own timer; this link
reconnects when the next batch or health probe needs it instead, so a broker that is back
is used at once and a broker that is gone costs nothing between events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .._redact import capped_repr
from ..errors import ConfigurationError

__all__ = ["LOST", "AmqpLink", "ExchangeSettings", "check_options"]

_CLOSE_TIMEOUT = 5.0
_CANCEL_ROUNDS, _CANCEL_GRACE = 3, 0.5  # see _cancel()
#: The error of a message whose connection was lost before RabbitMQ confirmed it.
LOST = "the connection to RabbitMQ was lost before the message was confirmed"


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """Where messages are published: an exchange, declared or only checked (passive).

    The empty name is the default exchange (routing keys are queue names), which needs
    no declaration.
    """

    name: str
    type: str
    durable: bool
    passive: bool


class AmqpLink:
    """A connection and a confirming channel to ``url``, reopened when found closed.

    Args:
        aio_pika: the imported aio_pika module.
        url: the AMQP URL (credentials never leave this object).
        exchange: the exchange to publish to.
        connect_timeout: seconds to connect (and to declare the exchange).
        connection: an aio-pika connection to open the channel on instead of ``url``;
            never closed here.
        connect_kwargs: for ``aio_pika.connect``.
    """

    def __init__(
        self,
        aio_pika: ModuleType,
        url: str,
        exchange: ExchangeSettings,
        *,
        connect_timeout: float,
        connection: Any = None,
        connect_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._aio_pika = aio_pika
        self._url = url
        self.settings = exchange
        self._timeout = connect_timeout
        self._given = connection
        self._kwargs = connect_kwargs or {}
        self._connection: Any = connection
        self._channel: Any = None
        self._exchange: Any = None
        self._stale = False
        self._lock = asyncio.Lock()
        # Done when the connection of the current channel closes (see confirm()).
        self._lost: asyncio.Future[None] | None = None
        self._watched: Any = None  # the connection whose close_callbacks hold _on_lost

    async def exchange(self) -> Any:
        """The exchange object to publish with, reconnecting first if the link is down.

        Raises:
            ConnectionError: a connection passed in is closed (it may reconnect itself).
            aio_pika's errors: connecting or declaring the exchange failed.
        """
        if not self._usable():
            async with self._lock:
                if not self._usable():
                    await self._reopen()
        return self._exchange

    @property
    def channel(self) -> Any:
        """The current channel (after :meth:`exchange`), ``None`` before."""
        return self._channel

    @property
    def lost(self) -> asyncio.Future[None] | None:
        """Done once the current channel's connection has closed."""
        return self._lost

    async def confirm(
        self, publishes: Sequence[asyncio.Future[Any]], timeout: float
    ) -> list[BaseException | None]:
        """Wait for ``publishes`` (each publishing one message and awaiting its confirm);
        each one's error, ``None`` for a confirmed one.

        Those still waiting when the connection closes, or after ``timeout`` seconds, are
        cancelled and fail with :class:`ConnectionError` or :class:`asyncio.TimeoutError`:
        aiormq 6 (aio-pika 9) can wait forever for a frame to be written on a connection
        that was lost meanwhile (mosquito/aiormq#176).
        """
        lost = self._lost
        gathering = asyncio.gather(*publishes, return_exceptions=True)
        waiting: set[asyncio.Future[Any]] = {gathering} if lost is None else {gathering, lost}
        try:
            await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not gathering.done():
                await _cancel(publishes)
        if lost is not None and lost.done():
            reason: BaseException = ConnectionError(LOST)
        else:
            reason = asyncio.TimeoutError(f"no confirm within {timeout}s")
        return [_error(publish, reason) for publish in publishes]

    def reset(self) -> None:
        """Give up this connection (a send on it failed or timed out): the next
        :meth:`exchange` connects again."""
        self._stale = True

    async def ping(self) -> None:
        """A round trip: open a channel and check the exchange exists (passively)."""
        await self.exchange()
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            if self.settings.name:
                await channel.declare_exchange(
                    self.settings.name, passive=True, timeout=self._timeout
                )
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    async def close(self) -> None:
        """Close the channel, and the connection unless it was passed in."""
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), _CLOSE_TIMEOUT)
        self._unwatch()
        if self._given is None:
            await self._drop_connection()

    def _usable(self) -> bool:
        return (
            not self._stale
            and self._exchange is not None
            and self._lost is not None
            and not self._lost.done()
            and not self._channel.is_closed
            and _alive(self._connection)
        )

    async def _reopen(self) -> None:
        if self._stale or not _alive(self._connection):
            self._stale = False
            await self.close()
            self._connection = await self._connect()
        self._watch(self._connection)
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._exchange = await self._declare(self._channel)

    def _watch(self, connection: Any) -> None:
        """A new ``_lost`` future, done when ``connection`` closes."""
        self._lost = asyncio.get_running_loop().create_future()
        if self._watched is not connection:
            self._unwatch()
            connection.close_callbacks.add(self._on_lost)
            self._watched = connection

    def _unwatch(self) -> None:
        watched, self._watched = self._watched, None
        if watched is not None:
            watched.close_callbacks.discard(self._on_lost)

    def _on_lost(self, *_: Any) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    async def _connect(self) -> Any:
        if self._given is not None:
            if not _alive(self._given):
                raise ConnectionError("the aio-pika connection passed as connection= is closed")
            return self._given
        return await self._aio_pika.connect(self._url, timeout=self._timeout, **self._kwargs)

    async def _declare(self, channel: Any) -> Any:
        settings = self.settings
        if not settings.name:
            return channel.default_exchange
        return await channel.declare_exchange(
            settings.name,
            settings.type,
            durable=settings.durable,
            passive=settings.passive,
            timeout=self._timeout,
        )

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection is not self._given:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), _CLOSE_TIMEOUT)


async def _cancel(publishes: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel ``publishes`` and wait (briefly) until they end. Cancelled again if needed:
    before Python 3.12 ``asyncio.wait_for`` (aiormq uses it) may swallow a cancellation
    arriving as its operation finishes, and the publish then waits on. One that still
    does not end is left behind, its outcome observed when it comes."""
    for _ in range(_CANCEL_ROUNDS):
        pending = [publish for publish in publishes if not publish.done()]
        if not pending:
            return
        for publish in pending:
            publish.cancel()
        await asyncio.wait(pending, timeout=_CANCEL_GRACE)
    for publish in publishes:
        if not publish.done():
            publish.add_done_callback(_observe)


def _observe(publish: asyncio.Future[Any]) -> None:
    if not publish.cancelled():
        publish.exception()  # retrieved: no "exception was never retrieved" warning


def _error(publish: asyncio.Future[Any], reason: BaseException) -> BaseException | None:
    """The error of a finished publish; ``reason`` for one :meth:`AmqpLink.confirm`
    cancelled (or left behind)."""
    if not publish.done() or publish.cancelled():
        return reason
    return publish.exception()


def _alive(connection: Any) -> bool:
    return connection is not None and not connection.is_closed and connection.connected.is_set()


def check_options(
    aio_pika: ModuleType,
    *,
    url: object,
    exchange: object,
    exchange_type: object,
    seconds: dict[str, object],
) -> None:
    """Check the handler's connection and exchange options.

    Raises:
        ConfigurationError: one is out of range (named in the message).
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"url must be an AMQP URL, got a {type(url).__name__}")
    if not isinstance(exchange, str):
        raise ConfigurationError(
            f'exchange must be a str ("": the default exchange), got {capped_repr(exchange)}'
        )
    types = sorted(kind.value for kind in aio_pika.ExchangeType)
    if exchange_type not in types:
        raise ConfigurationError(
            f"exchange_type must be one of {', '.join(types)}, got {capped_repr(exchange_type)}"
        )
    for label, value in seconds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigurationError(
                f"{label} must be a number of seconds > 0, got {capped_repr(value)}"
            )
