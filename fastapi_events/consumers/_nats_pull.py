"""Pull requests on a JetStream consumer, answered into one inbox subscription of our own.

nats-py's ``PullSubscription.fetch(n)`` waits for all ``n`` messages (or its timeout) once
the stream is idle, so the first message after a quiet spell would wait that long. Here a
pull first asks for what is there now (``no_wait``, up to ``n``: the server answers at once,
ending a short batch with a ``404``/``408`` status), and only when there is nothing asks
for one message, waiting up to ``wait`` seconds (``expires``; a ``408`` ends it): a message
arriving then is handed over at once, and the next pull takes the rest without waiting.

Every message the inbox gets is kept until a pull hands it over, even one answering a pull
given up on (a lost ``408``, a cancelled wait): nothing is dropped, and :meth:`Puller.close`
returns what is left for the consumer to give back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import Any

__all__ = ["Puller"]

_STATUS, _DESCRIPTION = "Status", "Description"
_HEARTBEAT = "100"
_ENDED = ("404", "408")  # no messages; the request expired (or a no_wait batch ran short)
#: Seconds past a request's ``expires`` before its answer is given up on (a reconnect
#: lost the request): the pull returns what it has, the next one asks again.
_SLACK = 1.0


class Puller:
    """Asks a consumer for messages (``$JS.API.CONSUMER.MSG.NEXT``) on behalf of one
    receive loop, one request at a time."""

    def __init__(self, nc: Any, api_prefix: str, stream: str, consumer: str) -> None:
        self._nc = nc
        self._next = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = ""
        self._subscription: Any = None
        self._messages: deque[Any] = deque()
        self._owed = 0  # messages the open request may still bring
        self._ended = False  # a status ended the request
        self._error: tuple[str, str] | None = None
        self._arrived = asyncio.Event()
        self._closed = asyncio.Event()  # no request open on the server
        self._closed.set()

    async def start(self) -> None:
        """Subscribe to the inbox the answers come to."""
        self._inbox = self._nc.new_inbox()
        self._subscription = await self._nc.subscribe(self._inbox, cb=self._on_answer)

    async def close(self) -> list[Any]:
        """Unsubscribe; the messages received and not handed over yet."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None and not self._nc.is_closed:
            await subscription.unsubscribe()
        left = list(self._messages)
        self._messages.clear()
        return left

    async def idle(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) until no request is open on the server: a
        message given back before would be delivered again into it."""
        if not self._closed.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout)

    async def pull(self, count: int, wait: float) -> list[Any]:
        """Up to ``count`` messages: those there now, else the first to come within
        ``wait`` seconds (``[]`` if none)."""
        if self._messages:  # answers to an earlier request, come late
            return self._take(count)
        got = await self._request({"batch": count, "no_wait": True}, count, _SLACK)
        if got:
            return got
        return await self._request({"batch": 1, "expires": int(wait * 1e9)}, 1, wait + _SLACK)

    async def _request(self, request: dict[str, Any], count: int, patience: float) -> list[Any]:
        self._owed, self._ended, self._error = count, False, None
        self._closed.clear()
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while len(self._messages) < count and not self._ended:
            left = deadline - loop.time()
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), max(left, 0.0))
            except asyncio.TimeoutError:
                self._owed = 0  # expired on the server by now (or lost on the way)
                self._closed.set()
                break
        if self._error is not None:
            raise _refused(*self._error)
        return self._take(count)

    def _take(self, count: int) -> list[Any]:
        messages = self._messages
        return [messages.popleft() for _ in range(min(count, len(messages)))]

    async def _on_answer(self, msg: Any) -> None:
        headers = msg.headers
        status = headers.get(_STATUS) if headers else None
        if status == _HEARTBEAT:
            return
        if status is None:
            self._messages.append(msg)
            self._owed -= 1
        else:
            self._owed, self._ended = 0, True
            if status not in _ENDED:
                self._error = (str(status), str(headers.get(_DESCRIPTION, "")))
        if self._owed <= 0:
            self._closed.set()
        self._arrived.set()


def _refused(status: str, description: str) -> Exception:
    """The server refused a pull request (a deleted consumer, too many waiting
    requests...): nats-py's ``APIError``, which the receive loop logs before trying again
    after a pause."""
    import nats.js.errors

    code = int(status) if status.isdigit() else None
    return nats.js.errors.APIError(code=code, description=description[:200])
