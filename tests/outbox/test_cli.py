"""``python -m fastapi_events.outbox``: a standalone relay, killed mid-publish and
recovered by another; --once, create-table, stats, wrong arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from fastapi_events.outbox import PUBLISHED
from fastapi_events.outbox._cli import main
from tests.outbox.kit import Recorder, Store, eventually

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[2]
HANDLERS = "tests.outbox.cli_handlers:handlers"


def start_relay(store: Store, record: Path, *options: str, **env: str) -> subprocess.Popen[bytes]:
    """``python -m fastapi_events.outbox relay`` on the store's table, in a subprocess."""
    command = [sys.executable, "-m", "fastapi_events.outbox", "relay", "--url", store.url]
    if store.table.schema:
        command += ["--schema", store.table.schema]
    return subprocess.Popen(
        [*command, "--handlers", HANDLERS, *options],
        cwd=ROOT,
        env={**os.environ, "OUTBOX_TEST_RECORD": str(record), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def recorded(record: Path) -> list[str]:
    return record.read_text().split() if record.exists() else []


async def test_a_relay_killed_mid_publish_leaves_its_rows_to_another(
    pg_store: Store, tmp_path: Path
) -> None:
    """SIGKILL during a batch: after its lease another relay publishes every unmarked row;
    the only duplicates are the rows the dead relay published but had not marked."""
    written = {event.id for event in await pg_store.write([("bulk", {}) for _ in range(300)])}
    record = tmp_path / "killed.txt"
    relay = start_relay(
        pg_store, record, "--batch-size", "50", "--lease", "1", OUTBOX_TEST_HANG_AFTER="70"
    )
    try:
        await eventually(lambda: _at_least(record, 70))  # hung in its second batch
    finally:
        os.kill(relay.pid, signal.SIGKILL)
        relay.wait()
    marked = {row.event_id for row in await pg_store.rows() if row.status == PUBLISHED}
    killed = recorded(record)

    survivor = Recorder()
    async with pg_store.relay([survivor], lease=1) as running:
        await eventually(lambda: _empty(running))

    duplicates = set(killed) & set(survivor.ids)
    assert (len(killed), len(marked)) == (70, 50)
    assert len(survivor.ids) == len(set(survivor.ids)) == 250
    assert set(survivor.ids) == written - marked
    assert duplicates == set(killed) - marked
    assert len(duplicates) == 20  # published, killed before the mark


async def _at_least(record: Path, count: int) -> bool:
    return len(recorded(record)) >= count


async def _empty(relay: object) -> bool:
    return (await relay.stats()).depth == 0  # type: ignore[attr-defined]


async def test_once_publishes_what_is_due_and_exits(sqlite_store: Store, tmp_path: Path) -> None:
    """relay --once: every committed row, in order, then exit status 0."""
    written = await sqlite_store.write([("a", {}), ("b", {})])
    record = tmp_path / "once.txt"
    relay = start_relay(sqlite_store, record, "--once")
    assert relay.wait(timeout=60) == 0
    assert recorded(record) == [event.id for event in written]
    assert {row.status for row in await sqlite_store.rows()} == {PUBLISHED}


def test_create_table_then_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """create-table makes the table; stats prints depth, age and dead rows as JSON."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["create-table", "--url", url, "--table", "out"]) == 0
    assert sa.inspect(sa.create_engine(url)).get_table_names() == ["out"]
    assert main(["stats", "--url", url, "--table", "out"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats == {"depth": 0, "oldest_pending_age": None, "dead": 0}


@pytest.mark.parametrize(
    ("handlers", "message"),
    [
        ("no_such_module_xyz:handlers", "error: ModuleNotFoundError: No module named"),
        ("tests.outbox.cli_handlers:nothing", "error: AttributeError:"),
        ("json", "error: ValueError: expected module:attr, got 'json'"),
        ("json:__name__", "error: ConfigurationError: handlers must be a list"),
    ],
)
def test_a_wrong_handlers_argument_is_one_line_and_status_2(
    handlers: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A handlers spec that cannot be loaded stops the command before it connects."""
    assert main(["relay", "--url", "sqlite://", "--handlers", handlers]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(message)
