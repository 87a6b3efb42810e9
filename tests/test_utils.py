"""The 0.12 helpers chunk() and strtobool()."""

from __future__ import annotations

import pytest

from fastapi_events.utils import chunk, strtobool


def test_chunk_splits_any_iterable() -> None:
    """chunk yields lists of at most `size` items, the last one shorter."""
    assert list(chunk(iter(range(5)), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunk([], 3)) == []


def test_chunk_rejects_sizes_below_one() -> None:
    """A size of 0 would loop forever or yield nothing; it is an error naming the size."""
    with pytest.raises(ValueError, match="got 0"):
        list(chunk([1], 0))


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("YES", True),
        (" on ", True),
        ("t", True),
        ("0", False),
        ("Off", False),
        ("", False),
    ],
)
def test_strtobool(raw: str, value: bool) -> None:
    """Environment spellings of booleans parse in any case."""
    assert strtobool(raw) is value


def test_strtobool_rejects_other_values_naming_them() -> None:
    """An unknown spelling is a ValueError that quotes it."""
    with pytest.raises(ValueError, match="'maybe'"):
        strtobool("maybe")
