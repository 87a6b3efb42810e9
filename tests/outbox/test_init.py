"""fastapi_events.outbox: an optional room, imported only when used, with a clear hint."""

from __future__ import annotations

import subprocess
import sys

import fastapi_events.outbox as outbox


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_core_does_not_import_sqlalchemy() -> None:
    """Importing fastapi_events (and its handlers) leaves SQLAlchemy unimported."""
    result = run(
        "import sys, fastapi_events, fastapi_events.handlers.local; "
        "print('sqlalchemy' in sys.modules)"
    )
    assert result.stdout.strip() == "False"


def test_without_sqlalchemy_the_import_error_names_the_extra() -> None:
    """ImportError: pip install 'fastapi-events[sqlalchemy]'."""
    result = run("import sys; sys.modules['sqlalchemy'] = None; import fastapi_events.outbox")
    assert result.returncode == 1
    assert (
        "ImportError: fastapi_events.outbox needs SQLAlchemy 2: "
        "pip install 'fastapi-events[sqlalchemy]'" in result.stderr
    )


def test_the_public_names() -> None:
    """What the room exports."""
    assert set(outbox.__all__) == {
        "DEAD",
        "DEFAULT_TABLE_NAME",
        "PENDING",
        "PUBLISHED",
        "Outbox",
        "OutboxRelay",
        "OutboxStats",
        "add",
        "add_async",
        "create_table",
        "create_table_async",
        "default_outbox",
    }
