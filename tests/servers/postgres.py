"""PostgreSQL for the outbox tests: the server at 127.0.0.1:5432 (trust auth, database
``test``), or ``$FASTAPI_EVENTS_POSTGRES_URL``; a fresh schema per test, dropped after.

Where no server answers the tests skip with the reason, or fail when
``FASTAPI_EVENTS_REQUIRE_BROKERS=1`` (CI on machines that run the brokers).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

__all__ = ["POSTGRES_URL_ENV", "REQUIRE_BROKERS_ENV", "missing", "pg_schema", "postgres_url"]

#: Truthy: a missing broker fails its tests instead of skipping them (CI sets it).
REQUIRE_BROKERS_ENV = "FASTAPI_EVENTS_REQUIRE_BROKERS"
#: A libpq URL of the server to use (``postgresql://user@host:port/database``).
POSTGRES_URL_ENV = "FASTAPI_EVENTS_POSTGRES_URL"
_SHARED = "postgresql://postgres@127.0.0.1:5432/test"


def missing(reason: str) -> NoReturn:
    """Skip, or fail where brokers are required."""
    if os.environ.get(REQUIRE_BROKERS_ENV, "").lower() in {"1", "true", "yes", "on"}:
        pytest.fail(f"{reason} ({REQUIRE_BROKERS_ENV} is set, so this is an error)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The libpq URL of a reachable PostgreSQL server (skip or fail without one)."""
    url = os.environ.get(POSTGRES_URL_ENV, _SHARED)
    try:
        import psycopg
    except ImportError:
        missing("psycopg is not installed: pip install -e '.[test]'")
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        missing(f"no PostgreSQL at {url} ({type(exc).__name__}); set {POSTGRES_URL_ENV}")
    return url


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A schema of this test's own, dropped with everything in it afterwards."""
    import psycopg

    schema = f"fe_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
