"""Pipelined JetStream publishes on one NATS connection, their acks awaited together.

A JetStream publish is a NATS publish with a reply subject, answered by the stream with a
``PubAck`` (or an error). Every message goes out with its own reply subject under one
wildcard subscription, in order, without waiting; then the acks are awaited together, with
a deadline. (nats-py's ``publish_async`` leaves the future of a refused message unanswered,
so it is not used.)
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["JetStreamPublisher", "ack_error", "check_subject", "wire_size"]

_NO_RESPONDERS = "503"
_STATUS_HEADER = "Status"
_HEADER_LINE = len(b"NATS/1.0\r\n")


class JetStreamPublisher:
    """A NATS connection (``nc``) and the reply subscription of the acks it awaits.

    Attributes:
        nc: the nats-py client.
        owned: whether :meth:`close` closes ``nc`` (not a connection passed in).
    """

    def __init__(self, nc: Any, *, owned: bool) -> None:
        self.nc = nc
        self.owned = owned
        self._prefix = ""
        self._subscription: Any = None
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._tokens = itertools.count()

    async def start(self) -> JetStreamPublisher:
        """Subscribe to the acks' reply subjects."""
        self._prefix = self.nc.new_inbox()
        self._subscription = await self.nc.subscribe(f"{self._prefix}.*", cb=self._on_reply)
        return self

    async def close(self) -> None:
        """Stop listening for acks (waiters are cancelled); close ``nc`` if it is ours."""
        for future in list(self._waiting.values()):
            future.cancel()
        subscription, self._subscription = self._subscription, None
        if self.owned:
            await self.nc.close()
        elif subscription is not None and not self.nc.is_closed:
            await subscription.unsubscribe()

    async def publish(
        self, subject: str, body: bytes, headers: dict[str, str]
    ) -> asyncio.Future[Any]:
        """Send one message; the future gets the reply (cancel it to stop waiting)."""
        token = str(next(self._tokens))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        future.add_done_callback(lambda _: self._waiting.pop(token, None))
        try:
            await self.nc.publish(subject, body, reply=f"{self._prefix}.{token}", headers=headers)
        except BaseException:
            future.cancel()
            raise
        return future

    async def _on_reply(self, msg: Any) -> None:
        future = self._waiting.get(msg.subject[len(self._prefix) + 1 :])
        if future is not None and not future.done():
            future.set_result(msg)


def ack_error(reply: Any) -> Exception | None:
    """The error a JetStream publish reply carries (``None``: stored, or a duplicate the
    stream already holds)."""
    import nats.js.errors

    if (reply.headers or {}).get(_STATUS_HEADER) == _NO_RESPONDERS:
        return nats.js.errors.NoStreamResponseError()
    try:
        answer = json.loads(reply.data)
    except ValueError:
        return nats.js.errors.APIError(description="the publish ack is not JSON")
    error = answer.get("error") if isinstance(answer, dict) else None
    if error is None:
        return None
    try:
        nats.js.errors.APIError.from_error(error)  # raises the subclass for the code
    except nats.js.errors.APIError as exc:
        return exc
    return nats.js.errors.APIError(description="unknown publish error")


def check_subject(subject: str) -> None:
    """Raise ``nats.errors.BadSubjectError`` unless ``subject`` is a subject to publish to:
    dot-separated non-empty tokens, no whitespace, no wildcard."""
    tokens = subject.split(".")
    if any(not token or token in ("*", ">") for token in tokens) or any(
        char.isspace() for char in subject
    ):
        import nats.errors

        raise nats.errors.BadSubjectError


def wire_size(body: bytes, headers: Mapping[str, str]) -> int:
    """The bytes the server counts against its ``max_payload``: headers and body."""
    lines = sum(len(name.encode()) + len(value.encode()) + 4 for name, value in headers.items())
    return _HEADER_LINE + lines + 2 + len(body)
