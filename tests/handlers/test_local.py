"""LocalHandler: pattern matching, order, sync/async functions and dependency injection."""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Annotated, Any

import pytest
from fastapi import Depends

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError, InvalidEventNameError
from fastapi_events.handlers.local import LocalHandler

pytestmark = pytest.mark.anyio


class Color(str, enum.Enum):
    RED = "color.red"
    BLUE = "color.blue"


class Number(enum.Enum):
    ONE = 1


def settings() -> dict[str, str]:
    return {"dsn": "sqlite://"}


async def database(cfg: dict[str, str] = Depends(settings)) -> str:
    return f"db({cfg['dsn']})"


class Mailer:
    """A class dependency (module level, so its annotation resolves)."""

    def __init__(self, db: str = Depends(database)) -> None:
        self.db = db


async def run(handler: LocalHandler, *events: tuple[Any, Any]) -> None:
    async with event_scope(handlers=[handler]):
        for name, payload in events:
            dispatch(name, payload)


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", "anything", True),
        ("user.*", "user.created", True),
        ("user.*", "user.profile.updated", True),
        ("user.*", "users.created", False),
        ("user.?", "user.a", True),
        ("user.?", "user.ab", False),
        ("user.[ab]", "user.b", True),
        ("user.[!ab]", "user.b", False),
        ("user.created", "user.created", True),
        ("user.created", "User.Created", False),
        ("User.*", "user.created", False),
        (Color.RED, "color.red", True),
        ("color.*", Color.BLUE, True),
        (Color.RED, Color.BLUE, False),
        (Number.ONE, Number.ONE, True),
        ("1", Number.ONE, True),
    ],
)
async def test_pattern_matching(pattern: Any, name: Any, matches: bool) -> None:
    """Names match patterns with case-sensitive fnmatch; Enums stand for their values."""
    handler = LocalHandler()
    seen: list[Any] = []
    handler.register(lambda event: seen.append(event.name), event_name=pattern)
    await run(handler, (name, None))
    assert seen == ([name] if matches else [])


async def test_functions_receive_the_0_12_tuple() -> None:
    """A registered function gets a real (name, payload) tuple, as in 0.12 (issue #10)."""
    handler = LocalHandler()
    seen: list[Any] = []
    handler.register(seen.append, event_name="user.*")
    await run(handler, ("user.created", {"id": 1}))
    (event,) = seen
    assert isinstance(event, tuple) and len(event) == 2 and event == ("user.created", {"id": 1})
    assert json.dumps(event) == '["user.created", {"id": 1}]'


async def test_functions_run_in_registration_order_for_each_event() -> None:
    """For one event, matching functions run in the order they were registered."""
    handler = LocalHandler()
    order: list[str] = []

    @handler.register(event_name="a.*")
    async def first(event: Event) -> None:
        order.append(f"first:{event.key}")

    @handler.register
    async def catch_all(event: Event) -> None:
        order.append(f"all:{event.key}")

    @handler.register(event_name="a.b")
    async def exact(event: Event) -> None:
        order.append(f"exact:{event.key}")

    await run(handler, ("a.b", None), ("c", None))
    assert order == ["first:a.b", "all:a.b", "exact:a.b", "all:c"]


async def test_register_returns_the_function_so_registrations_stack() -> None:
    """Stacked decorators register one function under several patterns."""
    handler = LocalHandler()
    seen: list[str] = []

    @handler.register(event_name="x")
    @handler.register(event_name="y")
    async def both(event: Event) -> None:
        seen.append(event.key)

    assert both.__name__ == "both"
    await run(handler, ("x", None), ("y", None), ("z", None))
    assert seen == ["x", "y"]


async def test_cache_is_invalidated_by_a_new_registration() -> None:
    """A function registered after a name was matched once still runs for that name."""
    handler = LocalHandler()
    seen: list[str] = []
    handler.register(lambda e: seen.append("one"), event_name="n")
    await run(handler, ("n", None))
    handler.register(lambda e: seen.append("two"), event_name="n")
    await run(handler, ("n", None))
    assert seen == ["one", "one", "two"]


async def test_long_names_are_matched_but_not_cached() -> None:
    """Names over 256 characters match as usual and are never kept in the name cache
    (500 distinct 1 MiB names once kept 500 MiB alive)."""
    handler = LocalHandler()
    seen: list[int] = []
    handler.register(lambda e: seen.append(len(e.key)), event_name="big.*")
    handler.register(lambda e: seen.append(-1), event_name="small")
    names = [f"big.{i}." + "x" * 2**20 for i in range(20)]
    await run(handler, *[(name, None) for name in names], ("small", None), ("other", None))
    assert seen == [len(name) for name in names] + [-1]
    assert sorted(handler._matches) == ["other", "small"]


def test_non_callable_is_rejected_naming_it() -> None:
    """Registering something that is not callable fails at registration."""
    with pytest.raises(ConfigurationError, match="'not callable'"):
        LocalHandler().register("not callable")  # type: ignore[call-overload]


def test_bad_pattern_type_is_rejected() -> None:
    """An event_name that is neither str nor Enum is rejected, naming it."""
    with pytest.raises(InvalidEventNameError, match="42"):
        LocalHandler().register(event_name=42)  # type: ignore[call-overload]


def test_unknown_required_parameter_is_rejected_at_registration() -> None:
    """A parameter that is neither the event nor a dependency fails early, naming it."""
    with pytest.raises(ConfigurationError, match="'db'"):

        @LocalHandler().register
        async def handler(event: Event, db: str) -> None: ...


async def test_sync_function_runs_in_a_worker_thread_with_request_context() -> None:
    """Sync functions run off the event loop thread and see the dispatcher's ContextVars."""
    request_id: ContextVar[str] = ContextVar("request_id")
    handler = LocalHandler()
    seen: list[tuple[bool, str]] = []
    loop_thread = threading.get_ident()

    @handler.register
    def sync_handler(event: Event) -> None:
        seen.append((threading.get_ident() != loop_thread, request_id.get()))

    token = request_id.set("req-7")
    try:
        await run(handler, ("x", None))
    finally:
        request_id.reset(token)
    assert seen == [(True, "req-7")]


async def test_dependencies_are_resolved_for_sync_and_async_functions() -> None:
    """Depends, sub-dependencies, class dependencies and Annotated all resolve."""
    handler = LocalHandler()
    seen: list[Any] = []

    @handler.register
    async def async_handler(
        event: Event,
        cfg: Annotated[dict[str, str], Depends(settings)],
        db: str = Depends(database),
        mailer: Mailer = Depends(),
    ) -> None:
        seen.append(("async", event.key, db, mailer.db, cfg))

    @handler.register
    def sync_handler(event: Event, db: Annotated[str, Depends(database)]) -> None:
        seen.append(("sync", event.key, db))

    await run(handler, ("x", None))
    assert seen == [
        ("async", "x", "db(sqlite://)", "db(sqlite://)", {"dsn": "sqlite://"}),
        ("sync", "x", "db(sqlite://)"),
    ]


async def test_yield_dependencies_are_cleaned_up_after_the_handler_also_on_error() -> None:
    """Sync and async yield dependencies close after the handler; they see its exception."""
    handler = LocalHandler()
    log: list[str] = []

    async def session() -> AsyncIterator[str]:
        log.append("open-async")
        try:
            yield "session"
        except RuntimeError as exc:
            log.append(f"rollback:{exc}")
            raise
        finally:
            log.append("close-async")

    def connection() -> Iterator[str]:
        log.append("open-sync")
        yield "conn"
        log.append("close-sync")

    @handler.register(event_name="ok")
    async def ok(event: Event, s: str = Depends(session), c: str = Depends(connection)) -> None:
        log.append(f"handle:{s}:{c}")

    @handler.register(event_name="fail")
    async def fail(event: Event, s: str = Depends(session)) -> None:
        raise RuntimeError("boom")

    await run(handler, ("ok", None), ("fail", None))
    assert log == [
        "open-async",
        "open-sync",
        "handle:session:conn",
        "close-sync",
        "close-async",
        "open-async",
        "rollback:boom",
        "close-async",
    ]


async def test_use_cache_shares_one_value_per_event() -> None:
    """A dependency used twice is called once per event; use_cache=False calls it each time."""
    calls: list[str] = []

    def counter() -> int:
        calls.append("counter")
        return len(calls)

    def a(n: int = Depends(counter)) -> int:
        return n

    def b(n: int = Depends(counter)) -> int:
        return n

    def fresh(n: int = Depends(counter, use_cache=False)) -> int:
        return n

    handler = LocalHandler()
    seen: list[tuple[int, int, int]] = []

    @handler.register
    async def h(
        event: Event, x: int = Depends(a), y: int = Depends(b), z: int = Depends(fresh)
    ) -> None:
        seen.append((x, y, z))

    await run(handler, ("one", None), ("two", None))
    assert seen == [(1, 1, 2), (3, 3, 4)]


async def test_dependency_can_receive_the_event() -> None:
    """A dependency parameter annotated with Event receives the event being handled."""
    handler = LocalHandler()
    seen: list[str] = []

    def user_id(event: Event) -> str:
        return str(event.payload["user"])

    @handler.register
    async def h(event: Event, uid: str = Depends(user_id)) -> None:
        seen.append(uid)

    await run(handler, ("x", {"user": 7}))
    assert seen == ["7"]


async def test_duck_typed_depends_works_without_fastapi() -> None:
    """Any object with `dependency` and `use_cache` is a dependency marker."""

    class Provide:
        def __init__(self, dependency: Any) -> None:
            self.dependency = dependency
            self.use_cache = True

    handler = LocalHandler()
    seen: list[int] = []

    @handler.register
    async def h(event: Event, n: int = Provide(lambda: 41)) -> None:  # type: ignore[assignment]
        seen.append(n + 1)

    await run(handler, ("x", None))
    assert seen == [42]


def test_registrations_lists_pattern_and_function_in_order() -> None:
    """registrations() gives (pattern, function) pairs, Enums by value, in order."""

    class Kind(enum.Enum):
        CREATED = "user.created"

    handler = LocalHandler()

    async def first(event: Event) -> None: ...

    def second(event: Event) -> None: ...

    handler.register(first, event_name="user.*")
    handler.register(second, event_name=Kind.CREATED)
    handler.register(first)
    assert handler.registrations() == (
        ("user.*", first),
        ("user.created", second),
        ("*", first),
    )
