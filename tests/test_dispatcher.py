"""dispatch(): names, models, schemas, lazy payloads, the disable switch, bad input."""

from __future__ import annotations

import enum
import logging
import warnings
from typing import Any, ClassVar

import pydantic
import pytest

from fastapi_events import event_scope
from fastapi_events.dispatcher import OUTSIDE_SCOPE_MESSAGE, dispatch
from fastapi_events.errors import (
    FastapiEventError,
    InvalidEventNameError,
    MissingEventNameDuringDispatch,
    MultiplePayloadsDetectedDuringDispatch,
    OutsideEventScopeError,
)
from fastapi_events.registry.payload_schema import EventPayloadSchemaRegistry, registry
from tests.leaks import MAX_MESSAGE, assert_not_leaked, secret
from tests.recorders import Recorder

pytestmark = pytest.mark.anyio


class Kind(enum.Enum):
    CREATED = "thing.created"


class UserCreated(pydantic.BaseModel):
    __event_name__: ClassVar[str] = "user.created"
    id: int
    role: str = "member"


async def collect(fn: Any) -> list[tuple[Any, Any]]:
    """Run ``fn`` inside an event scope and return what the handler received."""
    recorder = Recorder()
    async with event_scope(handlers=[recorder]):
        fn()
    return [pair for batch in recorder.batches for pair in batch]


async def test_name_and_payload_forms() -> None:
    """str names, Enum names and a missing payload all dispatch."""
    got = await collect(
        lambda: (dispatch("a", {"x": 1}), dispatch(Kind.CREATED, [1, 2]), dispatch("b"))
    )
    assert got == [("a", {"x": 1}), (Kind.CREATED, [1, 2]), ("b", None)]


async def test_model_dispatch_uses_event_name_class_attribute() -> None:
    """dispatch(model) takes the name from __event_name__ and dumps the model."""
    got = await collect(lambda: dispatch(UserCreated(id=1)))
    assert got == [("user.created", {"id": 1, "role": "member"})]


async def test_explicit_event_name_wins_over_class_attribute() -> None:
    """event_name= beats __event_name__ (0.12 let the class attribute override it)."""
    got = await collect(lambda: dispatch(UserCreated(id=1), event_name="user.imported"))
    assert got == [("user.imported", {"id": 1, "role": "member"})]


def test_model_without_a_name_is_an_error() -> None:
    """A model with no __event_name__ and no event_name= names the class and the fix."""

    class Anonymous(pydantic.BaseModel):
        x: int = 1

    with pytest.raises(MissingEventNameDuringDispatch, match=r"Anonymous.*event_name="):
        dispatch(Anonymous())


def test_model_and_payload_is_an_error() -> None:
    """A model and a truthy payload cannot both be the payload."""
    with pytest.raises(MultiplePayloadsDetectedDuringDispatch, match=r"drop payload=") as info:
        dispatch(UserCreated(id=1), {"id": 2})
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [42, 3.5, b"bytes", object()])
def test_bad_event_name_names_the_value(bad: Any) -> None:
    """A name that is not a str, Enum or model is a TypeError naming the value."""
    with pytest.raises(InvalidEventNameError, match=type(bad).__name__) as info:
        dispatch(bad)
    assert isinstance(info.value, TypeError)


def test_conflicting_names_are_an_error() -> None:
    """A positional name and a different event_name= are rejected."""
    with pytest.raises(InvalidEventNameError, match=r"'a'.*'b'"):
        dispatch("a", event_name="b")


def test_missing_name_is_an_error() -> None:
    """dispatch() with no name at all says how to call it."""
    with pytest.raises(MissingEventNameDuringDispatch):
        dispatch()


def test_outside_any_scope_raises_lookup_error_with_the_fixes() -> None:
    """Outside requests without middleware_id: a LookupError that explains both fixes."""
    with pytest.raises(OutsideEventScopeError) as info:
        dispatch("orphan")
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, FastapiEventError)
    assert str(info.value) == OUTSIDE_SCOPE_MESSAGE
    assert "middleware_id" in OUTSIDE_SCOPE_MESSAGE and "event_scope" in OUTSIDE_SCOPE_MESSAGE


async def test_registered_schema_validates_at_the_call() -> None:
    """A payload that does not match its schema raises ValidationError in the caller."""
    registry.register(UserCreated)
    recorder = Recorder()
    async with event_scope(handlers=[recorder]):
        with pytest.raises(pydantic.ValidationError):
            dispatch("user.created", {"id": "not a number"})
    assert recorder.batches == []


async def test_validated_payload_keeps_default_fields() -> None:
    """The dumped payload includes defaults (0.12 dumped with exclude_unset=True)."""
    registry.register(UserCreated)
    got = await collect(lambda: dispatch("user.created", {"id": "5"}))
    assert got == [("user.created", {"id": 5, "role": "member"})]


async def test_no_payload_is_validated_against_a_registered_schema() -> None:
    """dispatch(name) without a payload raises ValidationError when the schema needs fields."""
    registry.register(UserCreated)
    recorder = Recorder()
    async with event_scope(handlers=[recorder]):
        with pytest.raises(pydantic.ValidationError):
            dispatch("user.created")
        with pytest.raises(pydantic.ValidationError):
            dispatch(Kind.CREATED, payload_schema_registry=_registry_of(Kind.CREATED))
    assert recorder.batches == []


async def test_no_payload_for_an_all_defaults_schema_is_its_defaults() -> None:
    """No payload is the empty payload: a schema with only defaults hands handlers those."""

    class Pinged(pydantic.BaseModel):
        source: str = "cron"

    registry.register(event_name="ping")(Pinged)
    got = await collect(
        lambda: (dispatch("ping"), dispatch("ping", validate_payload=False), dispatch("pong"))
    )
    assert got == [("ping", {"source": "cron"}), ("ping", None), ("pong", None)]


def _registry_of(name: Kind) -> EventPayloadSchemaRegistry:
    custom = EventPayloadSchemaRegistry()
    custom.register(event_name=name)(UserCreated)
    return custom


async def test_dump_args_and_no_dump() -> None:
    """payload_schema_cls_dict_args reach model_dump; payload_schema_dump=False keeps the model."""
    registry.register(UserCreated)
    got = await collect(
        lambda: (
            dispatch(
                "user.created", {"id": 1}, payload_schema_cls_dict_args={"exclude_unset": True}
            ),
            dispatch("user.created", {"id": 2}, payload_schema_dump=False),
        )
    )
    assert got[0] == ("user.created", {"id": 1})
    assert got[1] == ("user.created", UserCreated(id=2))


async def test_model_given_as_payload_is_validated_and_dumped() -> None:
    """A model passed as payload= is dumped like a validated dict (0.12 passed it through)."""
    got = await collect(lambda: dispatch("user.created", payload=UserCreated(id=3)))
    assert got == [("user.created", {"id": 3, "role": "member"})]


async def test_custom_registry_and_validate_payload_false() -> None:
    """payload_schema_registry= is consulted; validate_payload=False skips validation."""
    custom = EventPayloadSchemaRegistry()
    custom.register(UserCreated)
    got = await collect(
        lambda: (
            dispatch("user.created", {"id": "9"}, payload_schema_registry=custom),
            dispatch(
                "user.created", {"id": "x"}, payload_schema_registry=custom, validate_payload=False
            ),
        )
    )
    assert got == [("user.created", {"id": 9, "role": "member"}), ("user.created", {"id": "x"})]


async def test_lazy_payload_is_evaluated_after_the_scope_not_at_dispatch() -> None:
    """A callable payload runs when handled (upstream #62), sync or async."""
    calls: list[str] = []

    def expensive() -> dict[str, int]:
        calls.append("sync")
        return {"n": 1}

    async def expensive_async() -> dict[str, int]:
        calls.append("async")
        return {"n": 2}

    recorder = Recorder()
    async with event_scope(handlers=[recorder]):
        dispatch("lazy.a", expensive)
        dispatch("lazy.b", expensive_async)
        assert calls == []
    assert calls == ["sync", "async"]
    assert recorder.batches == [[("lazy.a", {"n": 1}), ("lazy.b", {"n": 2})]]


async def test_failing_lazy_payload_is_reported_and_siblings_delivered() -> None:
    """A lazy payload that raises is reported; the other events of the batch still go out."""
    errors: list[str] = []
    recorder = Recorder()

    def broken() -> None:
        raise ZeroDivisionError("nope")

    async with event_scope(handlers=[recorder], on_error=lambda e, h, x: errors.append(e.key)):
        dispatch("lazy.broken", broken)
        dispatch("plain", {"ok": True})
    assert errors == ["lazy.broken"]
    assert recorder.batches == [[("plain", {"ok": True})]]


async def test_lazy_payload_is_validated_against_its_schema() -> None:
    """A lazy payload's value is validated and dumped like an eager one."""
    registry.register(UserCreated)
    got = await collect(lambda: dispatch("user.created", lambda: {"id": "4"}))
    assert got == [("user.created", {"id": 4, "role": "member"})]


async def test_lazy_payload_failing_its_schema_is_logged_without_its_value(
    library_logs: list[logging.LogRecord],
) -> None:
    """A lazy payload failing validation: field, error and input types logged, never the
    input (pydantic's message quotes it); the hook still gets the ValidationError."""
    registry.register(UserCreated)
    marker = secret()
    hooked: list[BaseException] = []
    async with event_scope(handlers=[Recorder()], on_error=lambda e, h, x: hooked.append(x)):
        dispatch("user.created", lambda: {"id": marker})
    [error] = hooked
    assert isinstance(error, pydantic.ValidationError) and marker in str(error)
    [record] = [r for r in library_logs if r.levelno >= logging.ERROR]
    assert "id: int_parsing (got str)" in record.getMessage()
    assert_not_leaked(marker, library_logs)


def test_model_and_payload_error_names_the_payload_type_only() -> None:
    """MultiplePayloadsDetectedDuringDispatch names the payload's type, not its value."""
    marker = secret()
    with pytest.raises(MultiplePayloadsDetectedDuringDispatch, match=r"\(dict\)") as info:
        dispatch(UserCreated(id=1), {"card": marker})
    assert_not_leaked(marker, exceptions=[info.value])


def test_payload_passed_as_the_name_is_not_echoed() -> None:
    """dispatch({...}) by mistake: the error names the type, never the dict's contents."""
    marker = secret()
    with pytest.raises(InvalidEventNameError, match="a value of type dict") as info:
        dispatch({"card": marker})
    assert_not_leaked(marker, exceptions=[info.value])


@pytest.mark.parametrize(
    "call",
    [
        lambda: dispatch(b"n" * 2**20),
        lambda: dispatch("a" * 2**20, event_name="b" * 2**20),
        lambda: dispatch(event_name=b"n" * 2**20),  # type: ignore[arg-type]
    ],
    ids=["bytes-name", "two-names", "bytes-event_name"],
)
def test_huge_names_make_short_messages(call: Any) -> None:
    """A 1 MiB name is echoed capped: the message stays a few hundred characters."""
    with pytest.raises(InvalidEventNameError) as info:
        call()
    assert len(str(info.value)) <= MAX_MESSAGE


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", "y", "t", "True"])
def test_disable_env_var_makes_dispatch_a_no_op(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A truthy FASTAPI_EVENTS_DISABLE_DISPATCH turns dispatch off, even outside requests."""
    monkeypatch.setenv("FASTAPI_EVENTS_DISABLE_DISPATCH", value)
    dispatch("ignored")  # would raise OutsideEventScopeError if enabled


async def test_disable_env_var_change_takes_effect_at_the_next_dispatch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Toggling the variable between dispatches is honoured each time."""
    recorder = Recorder()
    async with event_scope(handlers=[recorder]):
        monkeypatch.setenv("FASTAPI_EVENTS_DISABLE_DISPATCH", "1")
        dispatch("off")
        monkeypatch.setenv("FASTAPI_EVENTS_DISABLE_DISPATCH", "0")
        dispatch("on")
    assert recorder.names == ["on"]


async def test_unrecognised_disable_value_warns_once_and_counts_as_false(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A value like 'maybe' warns (naming variable and value) and dispatch keeps working."""
    monkeypatch.setenv("FASTAPI_EVENTS_DISABLE_DISPATCH", "maybe-not-a-bool")
    recorder = Recorder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with event_scope(handlers=[recorder]):
            dispatch("first")
            dispatch("second")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert "FASTAPI_EVENTS_DISABLE_DISPATCH='maybe-not-a-bool'" in messages[0]
    assert recorder.names == ["first", "second"]
