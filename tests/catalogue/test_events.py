"""Event entries, pattern matching and the document's ids."""

from __future__ import annotations

from fastapi_events.catalogue._events import EventEntry, Namer, collect_events, matches
from tests.catalogue.kit import OrderPlaced, UserCreated


def test_ids_are_readable_unique_and_safe_for_asyncapi() -> None:
    """Wildcards read as words, other characters become _, repeats get a number."""
    namer = Namer()
    names = ["user.*", "*", "a b/c", "a b/c", "<script>", "x" * 300, "---"]
    ids = [namer(name) for name in names]
    assert ids[:5] == ["user.any", "any", "a_b_c", "a_b_c_2", "script"]
    assert ids[5] == "x" * 100
    assert ids[6] == "---"


def test_patterns_match_names_and_narrower_patterns() -> None:
    """fnmatch, case-sensitive; an exact pattern matches only itself."""
    assert matches("user.*", "user.created")
    assert not matches("user.*", "User.created")
    assert matches("*", "user.*")
    assert matches("user.created", "user.created")
    assert not matches("user.created", "user.deleted")


def test_entries_come_from_schemas_models_then_patterns_once_each() -> None:
    """Registry names first, then models by __event_name__, then patterns; no repeats."""
    entries = collect_events(
        {"order.placed": OrderPlaced}, [UserCreated, OrderPlaced], ["order.placed", "user.*"]
    )
    assert entries == [
        EventEntry("order.placed", OrderPlaced),
        EventEntry("user.created", UserCreated),
        EventEntry("user.*", None),
    ]
    assert [entry.pattern for entry in entries] == [False, False, True]
