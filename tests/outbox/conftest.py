"""Outbox fixtures: the same tests on SQLite (a temp file, sync engine) and PostgreSQL
(psycopg 3 sync engine, asyncpg async engine), each in a fresh schema or file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.outbox.kit import KINDS, Store, close_store, open_store
from tests.servers.postgres import pg_schema, postgres_url

__all__ = ["pg_schema", "pg_store", "postgres_url", "sqlite_store", "store"]


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An outbox on SQLite, on PostgreSQL through psycopg, and through asyncpg."""
    opened = await open_store(request.param, request, tmp_path)
    yield opened
    await close_store(opened)


@pytest.fixture
async def pg_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An outbox on PostgreSQL through asyncpg."""
    opened = await open_store("asyncpg", request, tmp_path)
    yield opened
    await close_store(opened)


@pytest.fixture
async def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An outbox on SQLite (a file)."""
    opened = await open_store("sqlite", request, tmp_path)
    yield opened
    await close_store(opened)
