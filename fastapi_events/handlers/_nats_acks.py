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

__all__ = ["Acks", "JetStreamPublisher", "ack_error", "check_subject", "wire_size"]

_NO_RESPONDERS = "503"
_STATUS_HEADER = "Status"
_HEADER_LINE = len(b"NATS/1.0\r\n")


class Acks:
    """The replies to one batch's publishes, in publish order (``None``: none came)."""

    __slots__ = ("done", "missing", "replies", "tokens")

    def __init__(self, count: int) -> None:
        self.replies: list[Any] = [None] * count
        self.tokens: list[str | None] = [None] * count
        self.missing = 0
        self.done: asyncio.Future[None] | None = None

    def answer(self, index: int, reply: Any) -> None:
        """Record the reply to the publish at ``index`` (the first one counts)."""
        if self.replies[index] is None:
            self.replies[index] = reply
            self.missing -= 1
            if not self.missing and self.done is not None and not self.done.done():
                self.done.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until every publish is answered, or ``timeout`` seconds."""
        if self.missing:
            self.done = asyncio.get_running_loop().create_future()
            await asyncio.wait({self.done}, timeout=timeout)


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
        self._waiting: dict[str, tuple[Acks, int]] = {}
        self._tokens = itertools.count()

    async def start(self) -> JetStreamPublisher:
        """Subscribe to the acks' reply subjects."""
        self._prefix = self.nc.new_inbox()
        self._subscription = await self.nc.subscribe(f"{self._prefix}.*", cb=self._on_reply)
        return self

    async def close(self) -> None:
        """Stop listening for acks; close ``nc`` if it is ours."""
        self._waiting.clear()
        subscription, self._subscription = self._subscription, None
        if self.owned:
            await self.nc.close()
        elif subscription is not None and not self.nc.is_closed:
            await subscription.unsubscribe()

    async def publish(
        self, subject: str, body: bytes, headers: dict[str, str], acks: Acks, index: int
    ) -> None:
        """Send one message; its reply goes to ``acks`` at ``index``."""
        token = str(next(self._tokens))
        acks.tokens[index] = token
        acks.missing += 1
        self._waiting[token] = (acks, index)
        try:
            await self.nc.publish(subject, body, reply=f"{self._prefix}.{token}", headers=headers)
        except BaseException:
            del self._waiting[token]
            acks.tokens[index] = None
            acks.missing -= 1
            raise

    def forget(self, acks: Acks) -> None:
        """Stop waiting for the replies ``acks`` still misses."""
        for token, reply in zip(acks.tokens, acks.replies, strict=True):
            if token is not None and reply is None:
                self._waiting.pop(token, None)

    async def _on_reply(self, msg: Any) -> None:
        waiting = self._waiting.pop(msg.subject[len(self._prefix) + 1 :], None)
        if waiting is not None:
            waiting[0].answer(waiting[1], msg)


def ack_error(reply: Any) -> Exception | None:
    """The error a JetStream publish reply carries (``None``: stored, or a duplicate the
    stream already holds)."""
    if not reply.headers and b'"error"' not in reply.data:  # a PubAck: no need to parse it
        return None
    import nats.js.errors

    if reply.headers and reply.headers.get(_STATUS_HEADER) == _NO_RESPONDERS:
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
    """The bytes the server counts against its ``max_payload``: headers and body (ASCII
    headers, as ``nats_headers`` makes them: a character is a byte)."""
    lines = sum(map(len, headers)) + sum(map(len, headers.values())) + 4 * len(headers)
    return _HEADER_LINE + lines + 2 + len(body)
