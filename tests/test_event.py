"""The Event handlers receive: a real ``(name, payload)`` tuple plus metadata."""

from __future__ import annotations

import copy
import enum
import json
import os
import pickle
import warnings
from datetime import datetime, timezone
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import InvalidEventNameError
from fastapi_events.testing import RecordingHandler
from tests.leaks import MAX_MESSAGE

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


class E(enum.Enum):
    A = "a.b"


def test_is_a_real_two_tuple() -> None:
    """An Event is a tuple of exactly (name, payload)."""
    event = Event("user.created", {"id": 1})
    assert isinstance(event, tuple)
    assert len(event) == 2
    assert tuple(event) == ("user.created", {"id": 1}) and type(tuple(event)) is tuple


def test_json_dumps_like_the_0_12_tuple() -> None:
    """json.dumps writes the two items as a JSON array, nothing else."""
    assert json.dumps(Event("user.created", {"id": 1})) == '["user.created", {"id": 1}]'
    assert json.dumps([Event("a", None)]) == '[["a", null]]'


def test_compares_equal_to_the_plain_tuple_both_ways() -> None:
    """event == (name, payload) and (name, payload) == event; other tuples differ."""
    event = Event("user.created", {"id": 1})
    assert event == ("user.created", {"id": 1})
    assert ("user.created", {"id": 1}) == event  # noqa: SIM300 - the tuple on the left
    assert event != ("user.created", {"id": 2})
    assert event != ("user.created",)  # type: ignore[comparison-overlap]
    assert event in [("user.created", {"id": 1})]


def test_events_compare_by_name_and_payload_only() -> None:
    """Two events with the same items are equal like tuples, though their ids differ."""
    first, second = Event("x", 1), Event("x", 1)
    assert first == second and first.id != second.id
    assert Event("x", 1) != Event("x", 2)


def test_unpacks_indexes_and_slices_like_a_tuple() -> None:
    """Unpacking, indexing and slicing give the items; a slice is a plain tuple."""
    event = Event("user.created", {"id": 1})
    name, payload = event
    assert (name, payload) == ("user.created", {"id": 1})
    assert event[0] == "user.created" and event[1] == {"id": 1} and event[-1] == {"id": 1}
    assert event[:1] == ("user.created",) and type(event[:1]) is tuple
    assert event[::-1] == ({"id": 1}, "user.created")
    assert list(event) == ["user.created", {"id": 1}]
    assert "%s %s" % event == "user.created {'id': 1}"  # noqa: UP031 - a 0.12 idiom
    with pytest.raises(IndexError):
        event[2]  # type: ignore[misc]


def test_hash_is_the_tuple_hash() -> None:
    """A hashable payload hashes like the plain tuple; a dict payload is unhashable."""
    assert hash(Event("x", 1)) == hash(("x", 1))
    with pytest.raises(TypeError):
        hash(Event("x", {"id": 1}))


def test_metadata() -> None:
    """Each event has a stable unique id, an aware UTC timestamp and its unix time."""
    first, second = Event("x"), Event("x")
    assert first.id == first.id and first.id != second.id
    assert first.timestamp.tzinfo is timezone.utc
    assert first.timestamp == datetime.fromtimestamp(first.unix_time, timezone.utc)
    assert first.trace_context is None and first.correlation_id is None
    assert first.name == "x" and first.payload is None and first.key == "x"


def test_constructor_arguments() -> None:
    """Key, id, timestamp, trace context and correlation id can be given."""
    event = Event(
        "x", [1], "custom", id="id-1", timestamp=5.0, trace_context=TRACE, correlation_id="c"
    )
    assert event.key == "custom" and event.id == "id-1"
    assert event.unix_time == 5.0 and event.timestamp.timestamp() == 5.0
    assert event.trace_context == TRACE and event.correlation_id == "c"
    assert event == ("x", [1])


def test_trace_context_and_correlation_id_are_settable() -> None:
    """The metadata set after dispatch can be assigned; the tuple items cannot."""
    event = Event("x", 1)
    event.trace_context = TRACE
    event.correlation_id = "corr-1"
    assert event.trace_context == TRACE and event.correlation_id == "corr-1"
    with pytest.raises(AttributeError):
        event.payload = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.name = "y"  # type: ignore[misc]
    assert event == ("x", 1)


def test_repr_names_the_items_and_the_id() -> None:
    """The repr shows name, payload and id, not the other metadata."""
    event = Event("x", {"a": 1}, id="id-1", trace_context=TRACE)
    assert repr(event) == "Event(name='x', payload={'a': 1}, id='id-1')"


def test_repr_of_a_huge_event_stays_short() -> None:
    """A megabyte name or payload is cut in the repr, which keeps its style."""
    event = Event("n" * 2**20, {"blob": "x" * 2**20, "items": list(range(10_000))}, id="id-1")
    text = repr(event)
    assert len(text) <= MAX_MESSAGE
    assert text.startswith("Event(name='nnn") and text.endswith(", id='id-1')")


@pytest.mark.parametrize(
    "clone",
    [
        lambda event: pickle.loads(pickle.dumps(event)),
        lambda event: pickle.loads(pickle.dumps(event, protocol=0)),
        copy.copy,
        copy.deepcopy,
    ],
    ids=["pickle", "pickle-protocol-0", "copy", "deepcopy"],
)
def test_pickle_and_copy_keep_every_attribute(clone: Any) -> None:
    """A pickled or copied event keeps its items and all its metadata."""
    event = Event("x", {"id": 1}, "key-x", trace_context=TRACE, correlation_id="c")
    copied = clone(event)
    assert type(copied) is Event and copied == event
    assert copied.id == event.id and copied.unix_time == event.unix_time
    assert copied.timestamp == event.timestamp
    assert (copied.name, copied.payload, copied.key) == ("x", {"id": 1}, "key-x")
    assert copied.trace_context == TRACE and copied.correlation_id == "c"


def test_enum_name_key_is_its_value() -> None:
    """The key used for matching is an Enum's value; the name stays the Enum."""
    event = Event(E.A)
    assert event.name is E.A and event[0] is E.A and event.key == "a.b"


def test_invalid_name() -> None:
    """A name that is neither str nor Enum fails naming the value."""
    with pytest.raises(InvalidEventNameError, match=r"1.5"):
        Event(1.5)  # type: ignore[arg-type]


def test_huge_invalid_name_makes_a_short_message() -> None:
    """A 1 MiB bytes name is echoed capped (it once made a 1 MiB message)."""
    with pytest.raises(InvalidEventNameError, match=r"\[1048576 bytes\]") as info:
        Event(b"n" * 2**20)  # type: ignore[arg-type]
    assert len(str(info.value)) <= MAX_MESSAGE


@pytest.mark.anyio
async def test_dispatched_events_are_events_like_constructed_ones() -> None:
    """dispatch() builds the same Event a constructor call does, with all its metadata."""
    recorder = RecordingHandler()
    async with event_scope(handlers=[recorder]):
        dispatch("user.created", {"id": 1})
        dispatch(E.A)
    plain, enum_named = recorder.events
    assert type(plain) is Event and type(enum_named) is Event
    assert plain.key == "user.created" and plain.trace_context is None
    assert plain.correlation_id is None and isinstance(plain.unix_time, float)
    assert pickle.loads(pickle.dumps(plain)).id == plain.id
    assert enum_named.key == "a.b" and enum_named.name is E.A
    assert plain == ("user.created", {"id": 1}) and enum_named == (E.A, None)


def test_two_threads_reading_a_new_id_at_once_get_the_same_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync handler (a thread) and a forwarder (the loop) see one id, not two."""
    import threading

    from fastapi_events import _event

    both_generating = threading.Barrier(2, timeout=5)
    real_new_id = _event._new_id

    def new_id_after_the_other_thread_got_here() -> str:
        both_generating.wait()  # each thread saw no id yet and makes one
        return real_new_id()

    monkeypatch.setattr(_event, "_new_id", new_id_after_the_other_thread_got_here)
    event = Event("order.paid", {})
    seen: list[str] = []
    readers = [threading.Thread(target=lambda: seen.append(event.id)) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert len(seen) == 2
    assert seen[0] == seen[1] == event.id


def test_ids_are_distinct_uuid4_strings() -> None:
    """Event ids are canonical version-4 UUID strings, distinct across refills of the pool."""
    import uuid

    ids = [Event("x").id for _ in range(600)]  # more than two blocks of random bytes
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(value) for value in ids]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_hands_out_the_parents_next_id() -> None:
    """The pool of random bytes is emptied in a forked child (else both make the same ids)."""
    Event("x").id  # noqa: B018 - fill the pool
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, Event("x").id.encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert child_id and child_id != Event("x").id
