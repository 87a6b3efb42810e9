"""The relay's statements, each a short transaction on a sync ``Connection`` (an async
engine runs them through ``run_sync``): claim, settle, extend and release leases, stats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from .._event import Event
from ._table import DEAD, PENDING, PUBLISHED

__all__ = [
    "Claimed",
    "Settlement",
    "claim",
    "extend_leases",
    "release_leases",
    "settle",
    "table_stats",
    "utc",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, as an aware UTC datetime (the relay's clock: keep relay hosts NTP-synced)."""
    return datetime.now(timezone.utc)


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite gives back naive ones)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class Claimed:
    """One claimed row: its id, its attempts (this claim counted) and its event."""

    id: int
    attempts: int
    event: Event


@dataclass(frozen=True)
class Settlement:
    """What a batch came to: rows published, and rows to retry or bury (dicts of
    ``row_id``, ``new_attempts``, ``new_next_attempt_at``, ``new_status``,
    ``new_last_error``)."""

    published: Sequence[int]
    failed: Sequence[dict[str, Any]]


def claim(
    connection: sa.Connection,
    table: sa.Table,
    owner: str,
    lease: float,
    limit: int,
) -> list[Claimed]:
    """Lease up to ``limit`` due rows to ``owner``, oldest first, and count the attempt.

    One ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``: on
    PostgreSQL parallel relays skip each other's rows; on SQLite the statement runs under
    the single writer lock, so two relays never claim one row either.
    """
    now = utcnow()
    c = table.c
    due = (
        sa.select(c.id)
        .where(c.status == PENDING)
        .where(sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
        .where(sa.or_(c.lease_until.is_(None), c.lease_until < now))
        .order_by(c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        sa.update(table)
        .where(c.id.in_(due))
        .values(
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease),
            attempts=c.attempts + 1,
        )
        .returning(
            c.id,
            c.attempts,
            c.event_id,
            c.name,
            c.payload,
            c.timestamp,
            c.correlation_id,
            c.trace_context,
        )
    )
    rows = connection.execute(statement).all()
    return sorted((_claimed(row) for row in rows), key=lambda claimed: claimed.id)


def _claimed(row: Any) -> Claimed:
    event = Event(
        row.name,
        row.payload,
        id=row.event_id,
        timestamp=utc(row.timestamp).timestamp(),
        trace_context=row.trace_context or None,
        correlation_id=row.correlation_id,
    )
    return Claimed(row.id, row.attempts, event)


def settle(connection: sa.Connection, table: sa.Table, owner: str, settlement: Settlement) -> int:
    """Mark published rows and record failures, only where ``owner`` still holds the
    lease (a relay that lost its lease leaves the row to its new owner). Returns how many
    of the published rows were still ours."""
    c = table.c
    mine = 0
    if settlement.published:
        published = (
            sa.update(table)
            .where(c.id.in_(settlement.published), c.lease_owner == owner)
            .values(status=PUBLISHED, lease_owner=None, lease_until=None, last_error=None)
        )
        mine = connection.execute(published).rowcount
    if settlement.failed:
        failed = (
            sa.update(table)
            .where(c.id == sa.bindparam("row_id"), c.lease_owner == owner)
            .values(
                attempts=sa.bindparam("new_attempts"),
                next_attempt_at=sa.bindparam("new_next_attempt_at"),
                status=sa.bindparam("new_status"),
                last_error=sa.bindparam("new_last_error"),
                lease_owner=None,
                lease_until=None,
            )
        )
        connection.execute(failed, list(settlement.failed))
    return mine


def extend_leases(connection: sa.Connection, table: sa.Table, owner: str, lease: float) -> None:
    """Push back the end of ``owner``'s leases while it is still publishing them."""
    c = table.c
    until = utcnow() + timedelta(seconds=lease)
    statement = (
        sa.update(table)
        .where(c.lease_owner == owner, c.status == PENDING)
        .values(lease_until=until)
    )
    connection.execute(statement)


def release_leases(connection: sa.Connection, table: sa.Table, owner: str) -> int:
    """Give back ``owner``'s unpublished rows at once (a clean stop): the attempt does not
    count. Returns how many rows were released."""
    c = table.c
    statement = (
        sa.update(table)
        .where(c.lease_owner == owner, c.status == PENDING)
        .values(lease_owner=None, lease_until=None, attempts=c.attempts - 1)
    )
    return connection.execute(statement).rowcount


def table_stats(connection: sa.Connection, table: sa.Table) -> tuple[int, datetime | None, int]:
    """The number of pending rows, the oldest pending timestamp and the number of dead rows."""
    c = table.c
    pending = sa.select(sa.func.count(), sa.func.min(c.timestamp)).where(c.status == PENDING)
    depth, oldest = connection.execute(pending).one()
    dead = connection.execute(sa.select(sa.func.count()).where(c.status == DEAD)).scalar_one()
    return int(depth), None if oldest is None else utc(oldest), int(dead)
