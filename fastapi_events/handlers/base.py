"""The interface every event handler implements."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from .._context import current_progress, current_telemetry
from .._event import Event
from .._reporting import describe_handler, must_propagate, report_failure

__all__ = ["BaseEventHandler", "HealthStatus"]


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """What :meth:`BaseEventHandler.check_health` found: safe to show a readiness probe.

    Attributes:
        healthy: the handler can take events now.
        handler: which handler (its qualified class name, and its destination if any).
        detail: why, in a few words: an error's type and a capped message, never a
            payload, a credential or a connection URL.

    .. versionadded:: 1.0
    """

    healthy: bool
    handler: str
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        """The status as JSON-ready data."""
        return {"healthy": self.healthy, "handler": self.handler, "detail": self.detail}


class BaseEventHandler(ABC):
    """A destination for events: the middleware calls :meth:`handle_many` after a response.

    Subclasses implement :meth:`handle`. The default :meth:`handle_many` calls it for each
    event in dispatch order, each call in its own error boundary (a failure is logged and
    passed to the error hook; the next event is still handled; a ``BaseException`` other
    than the cancellation of the running task too). Set ``concurrent = True``
    on a handler whose events may be handled at the same time.

    Example::

        class AuditHandler(BaseEventHandler):
            async def handle(self, event: Event) -> None:
                name, payload = event
                await audit_log.write(name, payload)
    """

    #: Handle one batch's events concurrently instead of one after another.
    #:
    #: .. versionadded:: 1.0
    concurrent: bool = False

    @abstractmethod
    async def handle(self, event: Event) -> None:
        """Handle one event."""

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Handle one request's events, in dispatch order unless :attr:`concurrent`."""
        if self.concurrent:
            await asyncio.gather(*[self._handle_isolated(event) for event in events])
            return
        for event in events:
            await self._handle_isolated(event)

    async def _handle_isolated(self, event: Event) -> None:
        telemetry = current_telemetry()
        try:
            if telemetry is None:
                await self.handle(event)
            else:
                with telemetry.handler_span(event, self):
                    await self.handle(event)
        except BaseException as exc:
            if must_propagate(exc):
                raise
            report_failure(event, self, exc)
        progress = current_progress()
        if progress is not None:
            progress.settle(event)

    async def astart(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Prepare before the first event (open clients); called at application startup.

        A forwarder creating its client here, off the event loop, keeps that one-off cost
        (loading service models, ~100 ms of CPU) away from the first requests.

        .. versionadded:: 1.0
        """

    async def check_health(self) -> HealthStatus:
        """Whether this handler can take events now (a readiness probe asks every handler).

        The default says healthy; a forwarder pings its broker.

        .. versionadded:: 1.0
        """
        return HealthStatus(True, describe_handler(self), "ok")

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release resources and flush pending sends; called once at shutdown.

        .. versionadded:: 1.0
        """
