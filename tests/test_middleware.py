"""The middleware across FastAPI, Starlette and Litestar, driven in process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from fastapi_events import wait_for_pending
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError, UnknownMiddlewareIdError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.apps import FRAMEWORKS, build_app
from tests.recorders import Failing, Recorder

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def client_for(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_one_batch_per_request_in_dispatch_order(framework: str) -> None:
    """Each handler object gets one handle_many call with the request's events in order."""
    recorder = Recorder()
    async with client_for(build_app(framework, [recorder])) as client:
        response = await client.get("/events", params={"n": 3})
    assert response.status_code == 200
    assert recorder.batches == [[("item.0", {"i": 0}), ("item.1", {"i": 1}), ("item.2", {"i": 2})]]


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_request_without_events_calls_no_handler(framework: str) -> None:
    """A request that dispatches nothing costs no handler call."""
    recorder = Recorder()
    async with client_for(build_app(framework, [recorder])) as client:
        await client.get("/events", params={"n": 0})
    assert recorder.batches == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_failing_handler_object_does_not_hurt_response_or_siblings(
    framework: str, library_logs: list[logging.LogRecord]
) -> None:
    """A handler that raises is logged with the event name and id; the others still run."""
    recorder = Recorder()
    errors: list[tuple[str, object, str]] = []
    app = build_app(
        framework,
        [Failing(), recorder],
        on_error=lambda event, handler, exc: errors.append((event.key, handler, str(exc))),
    )
    async with client_for(app) as client:
        response = await client.get("/events", params={"n": 2})
    assert response.status_code == 200
    assert recorder.names == ["item.0", "item.1"]
    assert [(key, msg) for key, _, msg in errors] == [
        ("item.0", "cannot handle item.0"),
        ("item.1", "cannot handle item.1"),
    ]
    assert all(isinstance(handler, Failing) for _, handler, _ in errors)
    messages = [r.getMessage() for r in library_logs if r.levelno == logging.ERROR]
    assert len(messages) == 2
    assert "'item.0'" in messages[0] and "Failing" in messages[0]
    assert all(r.exc_info for r in library_logs)


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_failing_local_function_does_not_skip_the_next(framework: str) -> None:
    """For one event, a raising function does not stop the functions registered after it."""
    handler = LocalHandler()
    ran: list[str] = []

    @handler.register(event_name="item.*")
    async def first(event: Any) -> None:
        ran.append("first")
        raise RuntimeError("first failed")

    @handler.register(event_name="item.*")
    async def second(event: Any) -> None:
        ran.append("second")

    async with client_for(build_app(framework, [handler])) as client:
        await client.get("/events", params={"n": 1})
    assert ran == ["first", "second"]


async def test_error_hook_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """An error hook that raises is logged; the request and other handlers are unaffected."""

    def broken_hook(event: Any, handler: Any, exc: BaseException) -> None:
        raise KeyError("hook bug")

    recorder = Recorder()
    app = build_app("starlette", [Failing(), recorder], on_error=broken_hook)
    with caplog.at_level(logging.ERROR, logger="fastapi_events"):
        async with client_for(app) as client:
            response = await client.get("/events")
    assert response.status_code == 200
    assert recorder.names == ["item.0"]
    assert any("error hook" in r.getMessage() for r in caplog.records)


async def test_handler_objects_run_concurrently() -> None:
    """Two handler objects run at the same time: each waits for the other to start."""
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    class WaitsForOther(Recorder):
        def __init__(self, me: str, other: str) -> None:
            super().__init__()
            self.me, self.other = me, other

        async def handle_many(self, events: Any) -> None:
            started[self.me].set()
            await asyncio.wait_for(started[self.other].wait(), 5)
            await super().handle_many(events)

    a, b = WaitsForOther("a", "b"), WaitsForOther("b", "a")
    async with client_for(build_app("starlette", [a, b])) as client:
        await client.get("/events")
    assert a.names == b.names == ["item.0"]


@pytest.mark.parametrize("framework", ["fastapi", "starlette"])
async def test_exception_propagates_and_events_are_handled_afterwards(framework: str) -> None:
    """An endpoint exception yields the 500 at once; its events are handled in the background."""
    recorder = Recorder()
    async with client_for(build_app(framework, [recorder])) as client:
        response = await client.get("/raise")
    assert response.status_code == 500
    await wait_for_pending(5)
    assert recorder.names == ["before.raise"]


async def test_litestar_500_events_handled() -> None:
    """Litestar turns the exception into a 500 response; the events are still handled."""
    recorder = Recorder()
    async with client_for(build_app("litestar", [recorder])) as client:
        response = await client.get("/raise")
    assert response.status_code == 500
    await wait_for_pending(5)
    assert recorder.names == ["before.raise"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("path", "handled"),
    [("/raise", False), ("/status/503", False), ("/status/404", True), ("/status/200", True)],
)
async def test_discard_policy(framework: str, path: str, handled: bool) -> None:
    """With on_failed_request='discard', events of a raising or >= 500 request are dropped."""
    recorder = Recorder()
    app = build_app(framework, [recorder], on_failed_request="discard")
    async with client_for(app) as client:
        await client.get(path)
    await wait_for_pending(5)
    assert bool(recorder.batches) is handled


async def test_custom_failure_status() -> None:
    """failure_status decides which statuses count as failure."""
    recorder = Recorder()
    app = build_app(
        "starlette", [recorder], on_failed_request="discard", failure_status=lambda s: s >= 400
    )
    async with client_for(app) as client:
        await client.get("/status/404")
        await client.get("/status/201")
    assert recorder.names == ["status.reply"]
    assert recorder.batches == [[("status.reply", {"code": 201})]]


def test_bad_policy_value_is_rejected() -> None:
    """An unknown on_failed_request value names the value and the choices."""
    with pytest.raises(
        ConfigurationError, match=r"'drop'.*'handle' or 'discard'|'handle' or 'discard'.*'drop'"
    ):
        EventHandlerASGIMiddleware(app=None, handlers=[], on_failed_request="drop")  # type: ignore[arg-type]


def test_handler_that_is_not_a_handler_is_rejected() -> None:
    """A plain function in handlers= is rejected at construction, naming it."""

    def not_a_handler(event: Any) -> None: ...

    with pytest.raises(ConfigurationError, match=r"not_a_handler"):
        EventHandlerASGIMiddleware(app=None, handlers=[not_a_handler])  # type: ignore[arg-type]


async def test_generator_of_handlers_is_materialised_once() -> None:
    """handlers= may be a generator: every request still reaches the handlers."""
    recorder = Recorder()
    app = build_app("starlette", (h for h in [recorder]))  # type: ignore[arg-type]
    async with client_for(app) as client:
        await client.get("/events")
        await client.get("/events")
    assert len(recorder.batches) == 2


async def test_middleware_id_reaches_handlers_before_the_first_request() -> None:
    """dispatch(middleware_id=...) right after construction is handled, not dropped."""
    recorder = Recorder()
    middleware = EventHandlerASGIMiddleware(app=None, handlers=[recorder], middleware_id=4242)  # type: ignore[arg-type]
    dispatch("job.done", {"ok": True}, middleware_id=4242)
    await wait_for_pending(5)
    assert recorder.batches == [[("job.done", {"ok": True})]]
    assert middleware.middleware_id == 4242


def test_unknown_middleware_id_raises_naming_it() -> None:
    """An id no middleware registered is an error that names the id, never a silent drop."""
    with pytest.raises(UnknownMiddlewareIdError, match=r"middleware_id=999"):
        dispatch("x", middleware_id=999)


async def test_events_dispatched_after_the_drain_are_handled() -> None:
    """A task spawned by the endpoint dispatches after the response: handled (upstream #34)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    recorder = Recorder()
    release = asyncio.Event()

    async def late() -> None:
        await release.wait()
        dispatch("late.one", {"n": 1})
        dispatch("late.two", {"n": 2})

    tasks: list[asyncio.Task[None]] = []

    async def endpoint(request: Any) -> PlainTextResponse:
        dispatch("early", None)
        tasks.append(asyncio.create_task(late()))
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[Middleware(EventHandlerASGIMiddleware, handlers=[recorder])],
    )
    async with client_for(app) as client:
        await client.get("/")
    assert recorder.names == ["early"]
    release.set()
    await tasks[0]
    await wait_for_pending(5)
    assert recorder.names == ["early", "late.one", "late.two"]


@pytest.mark.parametrize("framework", ["fastapi", "starlette"])
async def test_background_task_and_streaming_events_are_handled(framework: str) -> None:
    """Events from a BackgroundTask and from a streaming body are handled, in order."""
    from starlette.background import BackgroundTask
    from starlette.responses import PlainTextResponse, StreamingResponse

    recorder = Recorder()

    async def body() -> AsyncIterator[bytes]:
        for i in range(2):
            dispatch("stream.chunk", {"i": i})
            yield b"x"

    async def stream_endpoint(request: Any) -> StreamingResponse:
        dispatch("stream.start", None)
        return StreamingResponse(body())

    async def background_endpoint(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok", background=BackgroundTask(dispatch, "bg.done"))

    app = build_app(framework, [recorder])
    app.add_route("/stream", stream_endpoint)
    app.add_route("/background", background_endpoint)
    async with client_for(app) as client:
        assert (await client.get("/stream")).text == "xx"
        await client.get("/background")
    await wait_for_pending(5)
    assert recorder.names == ["stream.start", "stream.chunk", "stream.chunk", "bg.done"]


async def test_0_12_globals_inside_a_request() -> None:
    """Inside a request the 0.12 globals read the request's state; handler_store lists handlers."""
    import fastapi_events

    recorder = Recorder()
    seen: dict[str, Any] = {}

    async def endpoint(request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        dispatch("x", 1)
        seen["in_cycle"] = fastapi_events.in_req_res_cycle.get()
        seen["middleware_id"] = fastapi_events.middleware_identifier.get()
        seen["buffered"] = [tuple(e) for e in fastapi_events.event_store.get()]
        return PlainTextResponse("ok")

    app = build_app("starlette", [recorder], middleware_id=9001)
    app.add_route("/globals", endpoint)
    async with client_for(app) as client:
        await client.get("/globals")
    assert seen == {"in_cycle": True, "middleware_id": 9001, "buffered": [("x", 1)]}
    assert fastapi_events.handler_store[9001] == [recorder]
