"""Splitting messages into batches that respect a count and a byte limit, and retry pacing."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from .._redact import capped_repr

__all__ = ["RetryPolicy", "split_batches"]

T = TypeVar("T")


def split_batches(
    items: Iterable[T], size_of: Callable[[T], int], max_count: int, max_bytes: int
) -> Iterator[list[T]]:
    """Split ``items``, in order, into batches of at most ``max_count`` items and
    ``max_bytes`` bytes in total. Every item must fit on its own (check before).

    Lazy: a batch is yielded as soon as it is full, so a caller sending each batch
    while ``items`` is still being produced never holds the event loop for all of them.
    """
    batch: list[T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) == max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a forwarder retries what failed transiently.

    Delays grow exponentially from ``base_delay`` up to ``max_delay`` seconds, with full
    jitter (a random delay between 0 and that bound), so many processes retrying at once
    do not hammer the service in step.

    Args:
        attempts: tries in total, the first included (1: never retry).
        base_delay: the bound of the first delay, in seconds.
        max_delay: the largest bound, in seconds.
        retry_on: which exceptions a local handler function retries (default: any
            ``Exception``); forwarders decide what is transient themselves.

    .. versionadded:: 1.0
    """

    attempts: int = 5
    base_delay: float = 0.05
    max_delay: float = 2.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if (
            isinstance(self.attempts, bool)
            or not isinstance(self.attempts, int)
            or self.attempts < 1
        ):
            raise ValueError(
                f"RetryPolicy attempts must be an int >= 1, got {capped_repr(self.attempts)}"
            )
        if not 0 <= self.base_delay <= self.max_delay:
            raise ValueError(
                f"RetryPolicy needs 0 <= base_delay <= max_delay, got "
                f"base_delay={capped_repr(self.base_delay)}, "
                f"max_delay={capped_repr(self.max_delay)}"
            )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**retry))
