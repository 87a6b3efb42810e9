"""The outbox table, and writing events to it inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_scoped_session,
)
from sqlalchemy.orm import Session, scoped_session

from .._event import Event, EventName
from .._redact import capped_repr
from ..errors import ConfigurationError
from ..registry.base import BaseEventPayloadSchemaRegistry
from ._writer import PENDING, build_event, insert_statement, row_values

__all__ = ["DEAD", "DEFAULT_OUTBOX", "DEFAULT_TABLE_NAME", "PENDING", "PUBLISHED", "Outbox"]

#: The table name of an :class:`Outbox` built without one.
DEFAULT_TABLE_NAME = "fastapi_events_outbox"
#: The status of a row every handler took.
PUBLISHED = "published"
#: The status of a row given up on after ``max_attempts`` (dead-lettered).
DEAD = "dead"
#: PostgreSQL's limit for a channel name, in bytes.
_MAX_CHANNEL = 63

#: What ``add`` writes through: a session (scoped or not) or a Core connection.
SyncExecutor = Session | scoped_session[Session] | sa.Connection
#: What ``add_async`` writes through.
AsyncExecutor = AsyncSession | async_scoped_session[AsyncSession] | AsyncConnection


def build_table(name: str, metadata: sa.MetaData, schema: str | None) -> sa.Table:
    """The outbox table: one row per event, ordered by ``id`` (commit order for
    transactions that do not overlap)."""
    when = sa.DateTime(timezone=True)
    table = sa.Table(
        name,
        metadata,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("timestamp", when, nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("trace_context", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", when, nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", when, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default=PENDING),
        sa.Column("last_error", sa.Text(), nullable=True),
        schema=schema,
    )
    pending = table.c.status == PENDING
    # Only pending rows are indexed for the relay: published ones cost the index nothing.
    sa.Index(f"ix_{name}_pending", table.c.id, postgresql_where=pending, sqlite_where=pending)
    return table


class Outbox:
    """An outbox table and how events are written to it, in the caller's transaction.

    Args:
        table_name: the table's name.
        metadata: the ``MetaData`` to define the table on (give your models'
            ``Base.metadata`` so Alembic sees it); a new one by default.
        schema: the schema (PostgreSQL) the table lives in.
        notify: on PostgreSQL, NOTIFY :attr:`channel` with each row (delivered at
            COMMIT), which wakes listening relays at once.
        channel: the NOTIFY channel; the table's qualified name by default.

    Raises:
        ConfigurationError: a channel name PostgreSQL cannot take (over 63 bytes).

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        table_name: str = DEFAULT_TABLE_NAME,
        *,
        metadata: sa.MetaData | None = None,
        schema: str | None = None,
        notify: bool = True,
        channel: str | None = None,
    ) -> None:
        self.metadata = sa.MetaData() if metadata is None else metadata
        #: The SQLAlchemy Core ``Table``.
        self.table = build_table(table_name, self.metadata, schema)
        self.notify = notify
        self.channel = channel or (f"{schema}.{table_name}" if schema else table_name)
        if not self.channel or len(self.channel.encode()) > _MAX_CHANNEL:
            raise ConfigurationError(
                f"the NOTIFY channel must be 1 to {_MAX_CHANNEL} bytes (PostgreSQL's limit), "
                f"got {capped_repr(self.channel)}; pass channel='...'"
            )

    def __repr__(self) -> str:
        return f"Outbox(table={self.table.fullname!r}, channel={self.channel!r})"

    def add(
        self,
        session: SyncExecutor,
        event_name_or_model: EventName | Any = None,
        payload: Any = None,
        *,
        event_name: EventName | None = None,
        validate_payload: bool = True,
        payload_schema_cls_dict_args: Mapping[str, Any] | None = None,
        payload_schema_registry: BaseEventPayloadSchemaRegistry | None = None,
        payload_schema_dump: bool = True,
    ) -> Event:
        """Write an event to the outbox in ``session``'s transaction (a sync ``Session``
        or ``Connection``); it is published once the transaction commits, never if it
        rolls back.

        The arguments are :func:`~fastapi_events.dispatcher.dispatch`'s; the event is the
        one it would build (id, timestamp, the current request's correlation id and trace
        context). Relayed payloads are what the JSON encoder made of them (a pydantic
        model arrives as a dict, a datetime as an ISO string), like a forwarded event's.

        Returns:
            The event written (its ``id`` is the row's ``event_id``).

        Raises:
            pydantic.ValidationError: the payload does not match its registered schema.
            SerializationError: the payload cannot be encoded as JSON (or is a function).

        Example::

            with Session(engine) as session, session.begin():
                session.add(Order(id=7))
                outbox.add(session, "order.placed", {"order": 7})
        """
        event = build_event(
            event_name_or_model,
            payload,
            event_name,
            payload_schema_registry,
            validate_payload,
            payload_schema_dump,
            payload_schema_cls_dict_args,
        )
        session.execute(self._statement(event, _dialect_name(session, self.table))).close()
        return event

    async def add_async(
        self,
        session: AsyncExecutor,
        event_name_or_model: EventName | Any = None,
        payload: Any = None,
        *,
        event_name: EventName | None = None,
        validate_payload: bool = True,
        payload_schema_cls_dict_args: Mapping[str, Any] | None = None,
        payload_schema_registry: BaseEventPayloadSchemaRegistry | None = None,
        payload_schema_dump: bool = True,
    ) -> Event:
        """:meth:`add` for an ``AsyncSession`` or ``AsyncConnection``.

        Example::

            async with AsyncSession(engine) as session, session.begin():
                session.add(Order(id=7))
                await outbox.add_async(session, "order.placed", {"order": 7})
        """
        event = build_event(
            event_name_or_model,
            payload,
            event_name,
            payload_schema_registry,
            validate_payload,
            payload_schema_dump,
            payload_schema_cls_dict_args,
        )
        result = await session.execute(self._statement(event, _dialect_name(session, self.table)))
        result.close()
        return event

    def create_table(self, bind: sa.Engine | sa.Connection) -> None:
        """Create the table and its index if they do not exist (not the schema)."""
        self.table.create(bind, checkfirst=True)

    async def create_table_async(self, engine: AsyncEngine | AsyncConnection) -> None:
        """:meth:`create_table` for an ``AsyncEngine`` or ``AsyncConnection``."""
        if isinstance(engine, AsyncConnection):
            await engine.run_sync(self.create_table)
            return
        async with engine.begin() as connection:
            await connection.run_sync(self.create_table)

    def purge_statement(self, before: datetime) -> sa.Delete:
        """A DELETE of the published rows whose events are older than ``before``, to run
        on your own schedule (dead rows stay until you deal with them).

        Example::

            week_ago = datetime.now(timezone.utc) - timedelta(days=7)
            with engine.begin() as connection:
                connection.execute(outbox.purge_statement(week_ago))
        """
        c = self.table.c
        return sa.delete(self.table).where(c.status == PUBLISHED, c.timestamp < before)

    def _statement(self, event: Event, dialect: str) -> sa.Executable:
        channel = self.channel if self.notify and dialect == "postgresql" else None
        return insert_statement(self.table, row_values(event), channel)


def _dialect_name(session: SyncExecutor | AsyncExecutor, table: sa.Table) -> str:
    if isinstance(session, (sa.Connection, AsyncConnection)):
        return session.dialect.name
    return session.get_bind(clause=table).dialect.name


#: The outbox of ``fastapi_events.outbox.add``: the default table on its own ``MetaData``.
DEFAULT_OUTBOX = Outbox()
