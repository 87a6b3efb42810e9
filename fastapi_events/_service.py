"""Something started with the app and stopped with it: ``async with``, and a lifespan."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["Service"]

S = TypeVar("S", bound="Service")


class Service(ABC):
    """A background service (a consumer, an outbox relay): ``start()``/``stop()``, plus
    ``async with service:`` and ``FastAPI(lifespan=service.lifespan)`` built on them."""

    @abstractmethod
    async def start(self) -> None:
        """Start working in the background."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop gracefully."""

    async def __aenter__(self: S) -> S:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """A FastAPI/Starlette (or Litestar) lifespan running this service while the app
        runs: ``FastAPI(lifespan=service.lifespan)``."""
        async with self:
            yield
