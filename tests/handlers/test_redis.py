"""RedisStreamForwardHandler against a real Redis server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.forwarder import RetryPolicy
from fastapi_events.handlers.redis import REDIS_INSTALL_HINT, RedisStreamForwardHandler
from fastapi_events.serialization import CloudEventsFormat, SerializationError, decode
from tests.servers.redis_server import RedisProcess, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

Failure = tuple[Event, object, BaseException]
MakeHandler = Callable[..., RedisStreamForwardHandler]
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)


@pytest.fixture
async def make_handler(redis_url: str) -> AsyncIterator[MakeHandler]:
    """Build handlers on the test server; aclose() them at the test's end."""
    made: list[RedisStreamForwardHandler] = []

    def make(stream: Any, **options: Any) -> RedisStreamForwardHandler:
        options.setdefault("url", redis_url)
        options.setdefault("retry", FAST)
        made.append(RedisStreamForwardHandler(stream, **options))
        return made[-1]

    yield make
    for handler in made:
        await handler.aclose()


@pytest.fixture
def read(redis_url: str) -> Callable[[str], list[dict[bytes, bytes]]]:
    """Every entry's fields in a stream (XRANGE), as Redis gives them (bytes)."""

    def xrange(stream: str) -> list[dict[bytes, bytes]]:
        with redis.Redis.from_url(redis_url) as client:
            return [fields for _, fields in client.xrange(stream)]

    return xrange


async def forward(
    handler: RedisStreamForwardHandler, events: list[tuple[str, Any]]
) -> list[Failure]:
    """Dispatch ``events`` in one scope (one batch); return what reached the error hook."""
    failures: list[Failure] = []
    async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
        for name, payload in events:
            dispatch(name, payload)
    return failures


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_importing_the_module_does_not_import_redis() -> None:
    """`import fastapi_events.handlers.redis` leaves the redis package unimported."""
    code = "import sys, fastapi_events.handlers.redis\nprint('redis' in sys.modules)"
    assert _run_python(code) == "False"


def test_missing_redis_says_how_to_install() -> None:
    """Without redis, constructing the handler names the extra to install."""
    code = (
        "import sys\nsys.modules['redis'] = None\nsys.modules['redis.asyncio'] = None\n"
        "from fastapi_events.handlers.redis import RedisStreamForwardHandler\n"
        "try:\n    RedisStreamForwardHandler('s')\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert _run_python(code) == REDIS_INSTALL_HINT
    assert "pip install 'fastapi-events[redis]'" in REDIS_INSTALL_HINT


@pytest.mark.parametrize("maxlen", [0, -1, True, "10"])
def test_maxlen_is_checked(maxlen: Any) -> None:
    """maxlen is an int >= 1 or None."""
    with pytest.raises(ConfigurationError, match="maxlen"):
        RedisStreamForwardHandler("s", maxlen=maxlen)


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/shop"), CloudEventsFormat("/shop", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_entries_decode_back_to_the_events(
    redis_stream: Callable[..., str], make_handler: MakeHandler, read: Any, serializer: Any
) -> None:
    """XRANGE gives one entry per event, in order; decode() restores name, payload and id."""
    stream = redis_stream()
    handler = make_handler(stream, serializer=serializer)
    seen: list[Event] = []
    handler.encode = _spy(handler.encode, seen)  # type: ignore[method-assign]
    assert await forward(handler, [("order.placed", {"n": 1}), ("order.paid", [2])]) == []
    received = [decode(fields) for fields in read(stream)]
    assert [(r.name, r.payload, r.id) for r in received] == [
        ("order.placed", {"n": 1}, seen[0].id),
        ("order.paid", [2], seen[1].id),
    ]


def _spy(encode: Any, seen: list[Event]) -> Any:
    def spy(event: Event) -> Any:
        seen.append(event)
        return encode(event)

    return spy


async def test_metadata_are_fields_and_binary_cloudevents_use_ce_fields(
    redis_stream: Callable[..., str], make_handler: MakeHandler, read: Any
) -> None:
    """Default: body + event_name/event_id/content_type; binary CloudEvents: ce_* fields."""
    plain, binary = redis_stream(), redis_stream()
    assert await forward(make_handler(plain), [("a", 1)]) == []
    ce = make_handler(binary, serializer=CloudEventsFormat("/shop", mode="binary"))
    assert await forward(ce, [("a", 1)]) == []
    [fields] = read(plain)
    assert fields[b"body"] == b'["a",1]'
    assert {b"event_name", b"event_id", b"content_type"} <= set(fields)
    [fields] = read(binary)
    assert (fields[b"body"], fields[b"ce_type"], fields[b"ce_source"]) == (b"1", b"a", b"/shop")
    assert (fields[b"ce_specversion"], fields[b"content-type"]) == (b"1.0", b"application/json")
    assert decode(fields).source == "/shop"


async def test_each_event_goes_to_the_stream_its_function_names(
    redis_stream: Callable[..., str], make_handler: MakeHandler, read: Any
) -> None:
    """A stream function routes each event; each stream keeps dispatch order."""
    streams = {"orders": redis_stream("orders"), "users": redis_stream("users")}
    handler = make_handler(lambda event: streams[event.key.split(".")[0]])
    events = [("orders.new", 1), ("users.new", 2), ("orders.paid", 3)]
    assert await forward(handler, events) == []
    assert [decode(f).payload for f in read(streams["orders"])] == [1, 3]
    assert [decode(f).payload for f in read(streams["users"])] == [2]


async def test_an_unserialisable_event_fails_alone(
    redis_stream: Callable[..., str], make_handler: MakeHandler, read: Any
) -> None:
    """A serializer failure is reported once; its siblings are written."""
    stream = redis_stream()
    failures = await forward(make_handler(stream), [("a", 1), ("bad", object()), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", SerializationError)]
    assert [decode(f).name for f in read(stream)] == ["a", "c"]


async def test_an_entry_redis_refuses_is_reported_once_and_not_retried(
    redis_stream: Callable[..., str], make_handler: MakeHandler, read: Any, redis_url: str
) -> None:
    """XADD on a key of another type (WRONGTYPE) fails that event only, without retries."""
    good, taken = redis_stream(), redis_stream()
    with redis.Redis.from_url(redis_url) as client:
        client.set(taken, "not a stream")
    handler = make_handler(lambda event: taken if event.key == "bad" else good)
    failures = await forward(handler, [("a", 1), ("bad", 2), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", redis.ResponseError)]
    assert "WRONGTYPE" in str(failures[0][2])
    assert [decode(f).name for f in read(good)] == ["a", "c"]


async def test_streams_are_capped_by_maxlen(
    redis_stream: Callable[..., str], make_handler: MakeHandler, redis_url: str
) -> None:
    """MAXLEN trims each XADD (exactly here; approximately by default)."""
    stream = redis_stream()
    handler = make_handler(stream, maxlen=5, approximate=False)
    assert await forward(handler, [("n", i) for i in range(12)]) == []
    with redis.Redis.from_url(redis_url) as client:
        assert client.xlen(stream) == 5


async def test_one_pipeline_per_batch(
    redis_stream: Callable[..., str], make_handler: MakeHandler, read: Any, redis_url: str
) -> None:
    """max_batch_size entries share one pipelined round trip."""
    pipelines: list[int] = []

    class Counting(redis.asyncio.Redis):
        def pipeline(self, *args: Any, **kwargs: Any) -> Any:
            pipelines.append(1)
            return super().pipeline(*args, **kwargs)

    client = Counting.from_url(redis_url)
    stream = redis_stream()
    handler = make_handler(stream, client=client, max_batch_size=4)
    assert await forward(handler, [("n", i) for i in range(10)]) == []
    await handler.aclose()
    assert await client.ping()  # a client passed in stays open
    await client.aclose()
    assert (len(pipelines), len(read(stream))) == (3, 10)


async def test_redis_down_at_start_up_reports_every_event(make_handler: MakeHandler) -> None:
    """Nothing listens on the port: each event is reported once, after the retries."""
    handler = make_handler("s", url=f"redis://127.0.0.1:{free_port()}/0")
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("a", redis.ConnectionError),
        ("b", redis.ConnectionError),
    ]


async def test_health_pings_redis_and_keeps_the_password_out(
    make_handler: MakeHandler, redis_url: str
) -> None:
    """check_health(): healthy on the server; on a dead port unhealthy, no URL secret."""
    up = await make_handler("s").check_health()
    down = await make_handler("s", url=f"redis://:s3cret@127.0.0.1:{free_port()}/0").check_health()
    assert (up.healthy, up.detail) == (True, "ok")
    assert up.handler.endswith("RedisStreamForwardHandler(s)")
    assert not down.healthy
    assert down.detail.startswith("ConnectionError")
    assert "s3cret" not in repr(down)


async def test_a_restart_mid_stream_loses_nothing_silently(make_handler: MakeHandler) -> None:
    """Server stopped between batches: those events are reported; after it is back, the
    forwarder reconnects. Every event is written or reported, never both."""
    server = RedisProcess().start()
    try:
        handler = make_handler("s", url=server.url)
        first = await forward(handler, [("before", 1)])
        server.stop()
        during = await forward(handler, [("during", 2)])
        server.start()  # same port, empty (nothing kept on disk)
        after = await forward(handler, [("after", 3)])
        with redis.Redis.from_url(server.url) as client:
            written = [decode(f).name for _, f in client.xrange("s")]
    finally:
        server.close()
    assert (first, after, written) == ([], [], ["after"])
    assert [(e.key, type(x)) for e, _, x in during] == [("during", redis.ConnectionError)]
