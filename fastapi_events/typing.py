"""Type aliases of fastapi_events' public API (the 0.12 names, kept)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._event import Event, EventName

__all__ = ["ASGIApp", "Event", "EventName", "Message", "Payload", "Receive", "Scope", "Send"]

Payload = Any
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
