"""The in-memory idempotency store: remembers handled event ids, least recently used out."""

from __future__ import annotations

import pytest

from fastapi_events.consumers import IdempotencyStore, MemoryIdempotencyStore
from fastapi_events.errors import ConfigurationError

pytestmark = pytest.mark.anyio


async def test_a_remembered_id_is_seen() -> None:
    """seen() is False until remember(), True after."""
    store = MemoryIdempotencyStore()
    assert not await store.seen("a")
    await store.remember("a")
    assert await store.seen("a")


async def test_the_least_recently_used_id_is_forgotten_first() -> None:
    """Past max_ids, the id neither remembered nor seen for longest goes."""
    store = MemoryIdempotencyStore(max_ids=2)
    await store.remember("a")
    await store.remember("b")
    assert await store.seen("a")  # "a" is now the most recent
    await store.remember("c")
    assert [await store.seen(key) for key in "abc"] == [True, False, True]
    assert len(store) == 2


def test_max_ids_must_be_positive() -> None:
    """max_ids=0 is refused at construction."""
    with pytest.raises(ConfigurationError, match="max_ids"):
        MemoryIdempotencyStore(max_ids=0)


def test_a_store_of_your_own_implements_two_methods() -> None:
    """The interface is two abstract async methods."""
    assert IdempotencyStore.__abstractmethods__ == frozenset({"seen", "remember"})
