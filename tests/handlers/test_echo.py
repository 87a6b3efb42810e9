"""EchoHandler: 0.12's pretty print, JSON lines, whole writes per batch."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import uuid

import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.echo import EchoHandler
from tests.leaks import Opaque, assert_not_leaked, nested, secret

pytestmark = pytest.mark.anyio


class CountingStream(io.StringIO):
    """A stream that records each write call separately."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            self.writes.append(text)
        return super().write(text)


async def test_pretty_format_prints_the_name_payload_pair() -> None:
    """The default output is pprint of (name, payload), like 0.12."""
    stream = io.StringIO()
    async with event_scope(handlers=[EchoHandler(stream=stream)]):
        dispatch("user.created", {"id": 1})
    assert stream.getvalue() == "('user.created', {'id': 1})\n"


async def test_prints_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream, events go to sys.stdout."""
    async with event_scope(handlers=[EchoHandler()]):
        dispatch("ping", None)
    assert capsys.readouterr().out == "('ping', None)\n"


async def test_json_format_writes_one_object_per_line() -> None:
    """format="json": name, id, time and payload as one JSON line per event."""
    stream = io.StringIO()
    event = Event("order.paid", {"id": uuid.UUID(int=3)})
    await EchoHandler(stream=stream, format="json").handle_many([event, Event("b", [1])])
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first == {
        "name": "order.paid",
        "id": event.id,
        "time": event.timestamp.isoformat(),
        "payload": {"id": str(uuid.UUID(int=3))},
    }
    assert (second["name"], second["payload"]) == ("b", [1])


async def test_json_format_reports_an_unencodable_payload_and_prints_the_rest() -> None:
    """An object JSON cannot encode is reported for its event; siblings are written."""
    stream = io.StringIO()
    failures: list[str] = []
    async with event_scope(
        handlers=[EchoHandler(stream=stream, format="json")],
        on_error=lambda event, handler, exc: failures.append(event.key),
    ):
        dispatch("a", 1)
        dispatch("bad", object())
        dispatch("c", 3)
    assert failures == ["bad"]
    assert [json.loads(line)["name"] for line in stream.getvalue().splitlines()] == ["a", "c"]


async def test_unencodable_value_is_reported_without_its_repr(
    library_logs: list[logging.LogRecord],
) -> None:
    """The report names the type and the field path; the value's repr is nowhere."""
    marker = secret()
    hooked: list[BaseException] = []
    async with event_scope(
        handlers=[EchoHandler(stream=io.StringIO(), format="json")],
        on_error=lambda event, handler, exc: hooked.append(exc),
    ):
        dispatch("order.paid", {"card": Opaque(marker)})
    [error] = hooked
    assert "type Opaque" in str(error) and "$.payload.card" in str(error)
    assert_not_leaked(marker, library_logs, hooked)


@pytest.mark.parametrize(
    ("fmt", "depth", "error"), [("pretty", 400, RecursionError), ("json", 5000, ValueError)]
)
async def test_a_too_deep_payload_fails_alone(
    fmt: str, depth: int, error: type[BaseException]
) -> None:
    """A payload nested too deeply to format (pprint's RecursionError, the JSON encoder's
    "nested too deeply") is reported once; its siblings are printed."""
    stream = io.StringIO()
    failures: list[tuple[str, type[BaseException]]] = []
    async with event_scope(
        handlers=[EchoHandler(stream=stream, format=fmt)],  # type: ignore[arg-type]
        on_error=lambda event, handler, exc: failures.append((event.key, type(exc))),
    ):
        dispatch("a", 1)
        dispatch("deep", nested(depth))
        dispatch("c", 3)
    assert failures == [("deep", error)]
    assert len(stream.getvalue().splitlines()) == 2
    assert "'deep'" not in stream.getvalue() and '"deep"' not in stream.getvalue()


async def test_concurrent_batches_never_interleave_lines() -> None:
    """Each batch is a single write, so concurrent drains cannot mix their lines."""
    stream = CountingStream()
    handler = EchoHandler(stream=stream, format="json")
    batches = [[Event(f"b{b}", i) for i in range(20)] for b in range(10)]
    await asyncio.gather(*[handler.handle_many(batch) for batch in batches])
    assert len(stream.writes) == 10
    for text in stream.writes:
        assert len({json.loads(line)["name"] for line in text.splitlines()}) == 1


def test_unknown_format_is_rejected() -> None:
    """A format other than pretty/json fails at construction, naming the choices."""
    with pytest.raises(ConfigurationError, match="'pretty' or 'json', got 'yaml'"):
        EchoHandler(format="yaml")  # type: ignore[arg-type]
