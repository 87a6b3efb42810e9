"""NATSForwardHandler's faults against a real NATS server: refused messages, subjects no
stream captures, the server down at start-up or restarted mid-stream, health."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest

from fastapi_events._event import Event
from fastapi_events.handlers.forwarder import RetryPolicy
from fastapi_events.handlers.nats import NATSForwardHandler
from fastapi_events.serialization import decode
from tests.handlers.nats_kit import Failure, MakeHandler, count_sends, forward, spy
from tests.servers.nats_server import NatsProcess, Stream, read_stream
from tests.servers.redis_server import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

MakeStream = Callable[..., Any]


async def test_a_message_the_stream_refuses_is_reported_once_and_not_retried(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """Over the stream's max_msg_size: JetStream's error for that event only; siblings stored."""
    stream: Stream = await nats_stream(max_msg_size=1024)
    sends: list[int] = []
    handler = nats_handler(stream.subject("a"))
    handler.send = count_sends(handler.send, sends)  # type: ignore[method-assign]
    failures = await forward(handler, [("a", 1), ("big", "x" * 2000), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("big", nats.js.errors.BadRequestError)]
    assert failures[0][2].err_code == 10054  # type: ignore[attr-defined]
    assert "x" * 50 not in str(failures[0][2])
    assert len(sends) == 1
    assert [decode(m).name for m in await read_stream(nats_url, stream)] == ["a", "c"]


async def test_a_subject_no_stream_captures_is_reported_not_lost(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """No stream answers (no responders): retried, then reported; routed siblings stored."""
    stream: Stream = await nats_stream()
    nowhere = f"{stream.name}_NONE.x"
    handler = nats_handler(lambda event: nowhere if event.key == "lost" else stream.subject("a"))
    failures = await forward(handler, [("a", 1), ("lost", 2), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("lost", nats.js.errors.NoStreamResponseError)
    ]
    assert [decode(m).name for m in await read_stream(nats_url, stream)] == ["a", "c"]


async def test_an_ack_that_never_comes_is_retried_then_reported(
    nats_handler: MakeHandler, nats_url: str
) -> None:
    """A plain subscriber takes the subject and never answers: each message waits
    ack_timeout, is retried, then reported with a timeout; nothing hangs."""
    subject = f"fe-test-silent.{uuid.uuid4().hex[:12]}"
    nc = await nats.connect(nats_url)
    received: list[str] = []

    async def silent(msg: Any) -> None:
        received.append(msg.headers["Nats-Msg-Id"])

    await nc.subscribe(subject, cb=silent)
    try:
        handler = nats_handler(subject, ack_timeout=0.1)
        failures = await forward(handler, [("a", 1), ("b", 2)])
        await nc.flush()
    finally:
        await nc.close()
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("a", nats.errors.TimeoutError),
        ("b", nats.errors.TimeoutError),
    ]
    ids = [e.id for e, _, _ in failures]
    assert sorted(received) == sorted(ids * 3)  # FAST: 3 attempts, the same Nats-Msg-Id


@pytest.mark.parametrize("subject", ["has space", "a..b", "a.*", "a.>", ""])
async def test_an_invalid_subject_fails_its_events_and_keeps_the_connection(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str, subject: str
) -> None:
    """A routed subject NATS cannot publish to is reported; the next events still go out."""
    stream: Stream = await nats_stream()
    handler = nats_handler(lambda event: subject if event.key == "bad" else stream.subject("a"))
    failures = await forward(handler, [("bad", 1), ("good", 2)])
    if subject:
        assert [(e.key, type(x)) for e, _, x in failures] == [("bad", nats.errors.BadSubjectError)]
    else:  # the base refuses an empty destination before send()
        assert [e.key for e, _, _ in failures] == ["bad"]
    assert await forward(handler, [("after", 3)]) == []
    assert [decode(m).name for m in await read_stream(nats_url, stream)] == ["good", "after"]


async def test_a_message_over_max_payload_fails_alone_on_the_client(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """Bigger than the server's max_payload: refused before sending (the server would close
    the connection); its siblings are stored."""
    stream: Stream = await nats_stream()
    handler = nats_handler(stream.subject("a"))
    limit = (await handler.get_client()).nc.max_payload
    failures = await forward(handler, [("a", 1), ("huge", "x" * limit), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("huge", nats.errors.MaxPayloadError)]
    assert [decode(m).name for m in await read_stream(nats_url, stream)] == ["a", "c"]


async def test_nats_down_at_start_up_reports_every_event(nats_handler: MakeHandler) -> None:
    """Nothing listens on the port: each event is reported once, after the retries."""
    handler = nats_handler("s", url=f"nats://127.0.0.1:{free_port()}", connect_timeout=0.2)
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("a", ConnectionRefusedError),
        ("b", ConnectionRefusedError),
    ]


async def test_health_asks_jetstream_and_keeps_the_password_out(
    nats_handler: MakeHandler,
) -> None:
    """check_health(): healthy on the server; on a dead port unhealthy, no URL secret."""
    up = await nats_handler("s").check_health()
    url = f"nats://u:s3cret@127.0.0.1:{free_port()}"
    down = await nats_handler("s", url=url, connect_timeout=0.2).check_health()
    assert (up.healthy, up.detail) == (True, "ok")
    assert up.handler.endswith("NATSForwardHandler(s)")
    assert not down.healthy
    assert down.detail.startswith("ConnectionRefusedError")
    assert "s3cret" not in repr(down)


async def test_a_restart_mid_stream_loses_nothing_silently(nats_handler: MakeHandler) -> None:
    """Server stopped between batches: those events are reported; after it is back (same
    store) the client reconnects by itself. Each event is stored or reported, never both,
    never twice."""
    server = NatsProcess().start()
    try:
        nc = await nats.connect(server.url)
        await nc.jetstream().add_stream(name="RESTART", subjects=["restart.>"])
        await nc.close()
        handler = nats_handler("restart.ev", url=server.url, ack_timeout=0.5)
        before = [("before", i) for i in range(5)]
        first = await forward(handler, before)
        server.stop()
        during = await forward(handler, [("during", i) for i in range(5)])
        server.start()  # same port and store
        after = await _forward_once_reconnected(handler, [("after", i) for i in range(5)])
        stored = await read_stream(server.url, Stream("RESTART"))
    finally:
        server.close()
    assert (first, after) == ([], [])
    assert {e.key for e, _, _ in during} == {"during"}
    assert all(handler.is_transient(x) for _, _, x in during)  # type: ignore[arg-type]
    stored_ids = [decode(m).id for m in stored]
    reported_ids = [e.id for e, _, _ in during]
    assert len(set(stored_ids)) == len(stored_ids) == 10
    assert len(set(reported_ids)) == len(reported_ids) == 5
    assert not set(stored_ids) & set(reported_ids)
    assert [decode(m).name for m in stored] == ["before"] * 5 + ["after"] * 5


async def _forward_once_reconnected(
    handler: NATSForwardHandler, events: list[tuple[str, Any]]
) -> list[Failure]:
    """Wait (bounded) until the client has reconnected by itself, then forward."""
    client = await handler.get_client()
    for _ in range(500):
        if client.nc.is_connected:
            break
        await asyncio.sleep(0.01)
    return await forward(handler, events)


async def test_events_flowing_through_a_restart_are_each_stored_once(
    nats_handler: MakeHandler, library_logs: list[logging.LogRecord]
) -> None:
    """Batches keep flowing while the server stops and starts again: with retries outlasting
    the outage, every event is stored exactly once (a re-sent one is a duplicate JetStream
    drops by Nats-Msg-Id) and none is reported; the client reconnects by itself."""
    server = NatsProcess().start()
    retry = RetryPolicy(attempts=40, base_delay=0.05, max_delay=0.1)
    handler = nats_handler(
        "flow.ev", url=server.url, ack_timeout=0.3, retry=retry, reconnect_time_wait=0.05
    )
    dispatched: list[Event] = []
    handler.encode = spy(handler.encode, dispatched)  # type: ignore[method-assign]
    reported: list[Failure] = []
    restarted = asyncio.Event()

    async def traffic() -> None:
        batches_after = 0
        while batches_after < 10:
            reported.extend(await forward(handler, [("flow", i) for i in range(20)]))
            batches_after += restarted.is_set()

    try:
        nc = await nats.connect(server.url)
        await nc.jetstream().add_stream(name="FLOW", subjects=["flow.>"])
        await nc.close()
        flowing = asyncio.ensure_future(traffic())
        await asyncio.sleep(0.05)
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        restarted.set()
        await flowing
        stored = [decode(m).id for m in await read_stream(server.url, Stream("FLOW"))]
    finally:
        server.close()
    assert reported == []
    assert len(set(stored)) == len(stored), "an event was stored twice"
    assert set(stored) == {event.id for event in dispatched}
    messages = [record.getMessage() for record in library_logs]
    assert any("lost its NATS connection" in m for m in messages)
    assert any("reconnected to NATS" in m for m in messages)
