"""Checking a consumer's numeric options once, at construction, and its retry backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = ["Backoff", "check_count", "check_seconds", "idempotency_store"]

from .._checks import check_count, check_seconds
from .._redact import capped_repr
from .idempotency import IdempotencyStore, MemoryIdempotencyStore


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: after the n-th failed delivery a message waits a
    random time between half and all of ``min(cap, base * 2 ** (n - 1))`` seconds."""

    base: float
    cap: float

    @classmethod
    def checked(cls, base: Any, cap: Any) -> Backoff:
        """A backoff from the ``backoff`` and ``max_backoff`` options (``cap`` ``None``:
        300 s, or ``base`` if that is more)."""
        first = check_seconds("backoff", base, zero=True)
        bound = max(first, 300.0) if cap is None else check_seconds("max_backoff", cap, zero=True)
        if bound < first:
            raise ConfigurationError(f"max_backoff must be >= backoff ({first}s), got {bound}s")
        return cls(first, bound)

    def delay(self, deliveries: int) -> float:
        """Seconds before the next delivery of a message that failed on its
        ``deliveries``-th delivery."""
        bound = min(self.cap, self.base * 2.0 ** min(max(deliveries, 1) - 1, 64))
        return random.uniform(bound / 2, bound)


def idempotency_store(deduplicate: bool | IdempotencyStore) -> IdempotencyStore | None:
    """The store ``deduplicate=`` asks for: ``True`` an in-memory one, ``False`` none."""
    if isinstance(deduplicate, IdempotencyStore):
        return deduplicate
    if deduplicate is True:
        return MemoryIdempotencyStore()
    if deduplicate is False:
        return None
    raise ConfigurationError(
        f"deduplicate must be True, False or an IdempotencyStore, got {capped_repr(deduplicate)}"
    )
