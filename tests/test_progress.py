"""Progress: what one handler has settled of one batch (the record exact accounting uses)."""

from __future__ import annotations

from fastapi_events._event import Event
from fastapi_events._progress import Progress


def _events(count: int) -> list[Event]:
    return [Event("progress.test", {"n": n}) for n in range(count)]


def test_owed_is_the_batch_itself_until_something_is_settled() -> None:
    events = _events(3)
    progress = Progress()
    assert progress.owed(events) is events
    progress.settle(events[1])
    assert progress.owed(events) == [events[0], events[2]]
    assert progress.is_settled(events[1]) and not progress.is_settled(events[0])


def test_the_marker_settles_by_identity_like_settle() -> None:
    events = _events(3)
    progress = Progress()
    mark = progress.marker()
    assert mark is not None
    mark(id(events[0]))
    assert [e.id for e in progress.owed(events)] == [events[1].id, events[2].id]
    # Equal events (same name and payload) are still two events.
    twin = Event("progress.test", {"n": 0})
    assert twin == events[0] and not progress.is_settled(twin)


def test_no_marker_while_settling_must_tell_someone() -> None:
    """With ``on_settle`` (a spool marking each event done), hot loops must call settle()."""
    events = _events(2)
    told: list[str] = []
    progress = Progress()
    progress.on_settle = lambda event: told.append(event.id)
    assert progress.marker() is None
    progress.settle(events[0])
    assert told == [events[0].id]


def test_steps_are_counted_per_event() -> None:
    first, second = _events(2)
    progress = Progress()
    assert progress.steps_done(first) == 0
    progress.step(first)
    progress.step(first)
    progress.step(second)
    assert (progress.steps_done(first), progress.steps_done(second)) == (2, 1)


def test_finish_settles_everything() -> None:
    events = _events(2)
    progress = Progress()
    progress.finish()
    assert progress.owed(events) == () and all(progress.is_settled(e) for e in events)
