"""Outbox.add / add_async: the dispatch() event, written in the caller's transaction."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from fastapi_events import outbox
from fastapi_events.errors import ConfigurationError, SerializationError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.outbox import Outbox
from fastapi_events.registry.payload_schema import registry
from tests.outbox.kit import Recorder, Store

pytestmark = pytest.mark.anyio


class Color(enum.Enum):
    RED = "color.red"


async def test_core_connections_write_in_their_transaction(store: Store) -> None:
    """A Connection (or AsyncConnection) works like a Session: rollback writes nothing."""
    if isinstance(store.engine, AsyncEngine):
        async with store.engine.connect() as connection:
            await store.outbox.add_async(connection, "kept", {})
            await connection.commit()
            await store.outbox.add_async(connection, "dropped", {})
            await connection.rollback()
    else:
        with store.engine.connect() as connection:
            store.outbox.add(connection, "kept", {})
            connection.commit()
            store.outbox.add(connection, "dropped", {})
            connection.rollback()
    assert [row.name for row in await store.rows()] == ["kept"]


def test_a_scoped_session_works_like_a_session(tmp_path: Path) -> None:
    """scoped_session (thread-local sessions, common in sync apps) is accepted."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'o.db'}")
    box = Outbox()
    box.create_table(engine)
    session = scoped_session(sessionmaker(engine))
    box.add(session, "kept", {})
    session.commit()
    session.remove()
    with engine.connect() as connection:
        assert connection.execute(sa.select(box.table.c.name)).scalars().all() == ["kept"]


async def test_the_row_holds_the_event_as_dispatch_builds_it(sqlite_store: Store) -> None:
    """id, name (an Enum by its value), timestamp, JSON payload, pending with no attempts."""
    [event] = await sqlite_store.write([(Color.RED, {"n": 1})])  # type: ignore[list-item]
    [row] = await sqlite_store.rows()
    assert (row.event_id, row.name, row.payload) == (event.id, "color.red", {"n": 1})
    assert row.timestamp.replace(tzinfo=datetime.timezone.utc) == event.timestamp
    assert (row.status, row.attempts, row.lease_owner, row.correlation_id) == (
        "pending",
        0,
        None,
        None,
    )
    assert event.name is Color.RED


async def test_payloads_are_encoded_with_the_library_encoder(sqlite_store: Store) -> None:
    """datetime, UUID, Decimal, sets and bytes are stored as forwarders encode them."""
    when = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
    ident = uuid.UUID(int=7)
    payload = {"at": when, "id": ident, "price": decimal.Decimal("9.99"), "tags": {"b", "a"}}
    await sqlite_store.write([("typed", {**payload, "raw": b"\x00\x01"})])
    [row] = await sqlite_store.rows()
    assert row.payload == {
        "at": "2024-05-01T12:00:00+00:00",
        "id": str(ident),
        "price": "9.99",
        "tags": ["a", "b"],
        "raw": "AAE=",
    }


def test_an_unencodable_payload_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """SerializationError names the type and where it is, never the value; nothing is written."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'o.db'}")
    box = Outbox()
    box.create_table(engine)
    with Session(engine) as session, pytest.raises(SerializationError) as caught:
        box.add(session, "card", {"number": "4111-1111", "holder": object()})
    assert "object" in str(caught.value) and "holder" in str(caught.value)
    assert "4111" not in str(caught.value)
    with Session(engine) as session, pytest.raises(SerializationError, match="pass the value"):
        box.add(session, "lazy", lambda: {"n": 1})
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(box.table)).scalar() == 0


class OrderPlaced(BaseModel):
    __event_name__ = "order.placed"
    order: int
    note: str = ""


async def test_payloads_are_validated_against_the_schema_registry(sqlite_store: Store) -> None:
    """A registered schema validates (and dumps) the payload, as dispatch() does."""
    registry.register(OrderPlaced)
    with pytest.raises(ValidationError):
        await sqlite_store.write([("order.placed", {"order": "not a number"})])
    await sqlite_store.write([("order.placed", {"order": 7})])
    await sqlite_store.write([(OrderPlaced(order=8), None)])  # type: ignore[list-item]
    rows = await sqlite_store.rows()
    assert [row.payload for row in rows] == [{"order": 7, "note": ""}, {"order": 8, "note": ""}]


async def test_the_request_correlation_id_and_trace_context_go_in_the_row(
    sqlite_store: Store,
) -> None:
    """Inside a request the row carries its correlation id and the dispatch span's context,
    and the relayed event has both, with its original id."""
    app = FastAPI()
    app.add_middleware(
        EventHandlerASGIMiddleware, handlers=[LocalHandler()], tracer_provider=TracerProvider()
    )
    written: list[Any] = []

    @app.post("/orders")
    def place() -> dict[str, str]:
        assert isinstance(sqlite_store.engine, sa.Engine)
        with Session(sqlite_store.engine) as session, session.begin():
            written.append(sqlite_store.outbox.add(session, "order.placed", {"n": 1}))
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.post("/orders", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200

    [row] = await sqlite_store.rows()
    assert row.correlation_id == "req-42"
    assert row.trace_context["traceparent"].startswith("00-")
    recorder = Recorder()
    await sqlite_store.relay([recorder]).drain()
    [relayed] = recorder.events
    assert (relayed.id, relayed.correlation_id) == (written[0].id, "req-42")
    assert relayed.trace_context == row.trace_context


def test_the_table_goes_on_your_metadata_and_create_table_is_idempotent(tmp_path: Path) -> None:
    """Outbox(metadata=Base.metadata) defines the table there (Alembic sees it)."""
    metadata = sa.MetaData()
    box = Outbox("events_out", metadata=metadata)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'o.db'}")
    box.create_table(engine)
    box.create_table(engine)
    assert metadata.tables["events_out"] is box.table
    assert sa.inspect(engine).get_table_names() == ["events_out"]
    assert box.channel == "events_out"


def test_a_channel_name_postgresql_cannot_take_is_refused() -> None:
    """Over 63 bytes: ConfigurationError at construction, not at the first NOTIFY."""
    with pytest.raises(ConfigurationError, match="1 to 63 bytes"):
        Outbox("t", channel="c" * 64)


def test_the_module_functions_use_the_default_outbox() -> None:
    """outbox.add and friends are the default outbox's methods, on its own table."""
    assert outbox.add == outbox.default_outbox.add
    assert outbox.create_table == outbox.default_outbox.create_table
    assert outbox.default_outbox.table.name == outbox.DEFAULT_TABLE_NAME


async def test_postgresql_notifies_once_per_committed_transaction_only(pg_store: Store) -> None:
    """No NOTIFY from a rolled-back transaction, one per committed one (however many rows);
    markers sent in between show the order PostgreSQL delivered them in."""
    import psycopg
    from psycopg import sql

    url = pg_store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    channel = sql.Identifier(pg_store.outbox.channel)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as listener:
        await listener.execute(sql.SQL("LISTEN {}").format(channel))
        await pg_store.write([("dropped", {})], rollback=True)
        await listener.execute(sql.SQL("NOTIFY {}, 'after rollback'").format(channel))
        await pg_store.write([("kept.1", {}), ("kept.2", {})])
        await pg_store.write([("kept.3", {})])
        await listener.execute(sql.SQL("NOTIFY {}, 'end'").format(channel))
        received = [n.payload async for n in listener.notifies(timeout=10, stop_after=4)]
    assert received == ["after rollback", "", "", "end"]


async def test_the_purge_statement_deletes_old_published_rows_only(store: Store) -> None:
    """Published rows older than the cutoff go; pending and newer published ones stay."""
    [old] = await store.write([("old", {})])
    [pending] = await store.write([("pending", {})])
    await store.write([("new", {})])
    relay = store.relay([Recorder(fail=lambda event: event.key == "pending")], backoff=600)
    await relay.drain()
    await store.execute(store.outbox.purge_statement(pending.timestamp))
    assert [row.name for row in await store.rows()] == ["pending", "new"]
    assert old.timestamp < pending.timestamp
