"""The command line: ``python -m fastapi_events.outbox relay --url ... --handlers mod:attr``.

Subcommands: ``relay`` (run until SIGTERM/SIGINT, or ``--once``), ``create-table`` and
``stats`` (one JSON line).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..errors import ConfigurationError
from ..handlers.base import BaseEventHandler
from ._database import Database
from ._relay import OutboxRelay, read_stats
from ._table import DEFAULT_TABLE_NAME, Outbox

__all__ = ["load", "main", "parser"]

#: What a wrong ``--url``, ``module:attr`` or option raises while the command is set up.
_SETUP_ERRORS = (ImportError, AttributeError, ValueError, TypeError, ConfigurationError)


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m fastapi_events.outbox``."""
    root = argparse.ArgumentParser(
        prog="python -m fastapi_events.outbox", description="The transactional outbox."
    )
    commands = root.add_subparsers(dest="command", required=True)
    relay = commands.add_parser("relay", help="publish committed rows until stopped")
    _table_arguments(relay)
    relay.add_argument("--handlers", required=True, help="module:attr of a handler or a list")
    relay.add_argument("--dead-letter", help="module:attr of the dead-letter handler")
    relay.add_argument("--batch-size", type=int, default=100)
    relay.add_argument("--poll-interval", type=float, default=5.0)
    relay.add_argument("--lease", type=float, default=30.0)
    relay.add_argument("--max-attempts", type=int, default=10)
    relay.add_argument("--backoff", type=float, default=1.0)
    relay.add_argument("--max-backoff", type=float, help="default: max(300, --backoff)")
    relay.add_argument("--no-listen", action="store_true", help="poll only, no LISTEN")
    relay.add_argument("--once", action="store_true", help="publish what is due, then exit")
    for name, text in [("create-table", "create the outbox table"), ("stats", "print stats")]:
        _table_arguments(commands.add_parser(name, help=text))
    return root


def _table_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--url", required=True, help="SQLAlchemy database URL")
    where = command.add_mutually_exclusive_group()
    where.add_argument("--table", default=DEFAULT_TABLE_NAME, help="the outbox table's name")
    where.add_argument("--outbox", help="module:attr of your Outbox object")
    command.add_argument("--schema", help="the table's schema (PostgreSQL)")
    command.add_argument("--log-level", default="INFO")


def load(spec: str) -> Any:
    """The object ``module:attr`` names (``attr`` may be dotted); a function is called
    (a factory of handlers)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected module:attr, got {spec[:200]!r}")
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    if callable(found) and not isinstance(found, (BaseEventHandler, Outbox)):
        found = found()
    return found


def _outbox(args: argparse.Namespace) -> Outbox:
    if not args.outbox:
        return Outbox(args.table, schema=args.schema)
    found = load(args.outbox)
    if not isinstance(found, Outbox):
        raise ValueError(f"--outbox must name an Outbox, got a {type(found).__name__}")
    return found


def _engine(url: str) -> sa.Engine | AsyncEngine:
    if sa.make_url(url).get_dialect().is_async:
        return create_async_engine(url)
    return sa.create_engine(url)


def _relay(args: argparse.Namespace, engine: sa.Engine | AsyncEngine) -> OutboxRelay:
    handlers = load(args.handlers)
    return OutboxRelay(
        engine,
        [handlers] if isinstance(handlers, BaseEventHandler) else handlers,
        outbox=_outbox(args),
        batch_size=args.batch_size,
        poll_interval=args.poll_interval,
        lease=args.lease,
        max_attempts=args.max_attempts,
        backoff=args.backoff,
        max_backoff=args.max_backoff,
        dead_letter=load(args.dead_letter) if args.dead_letter else None,
        listen=not args.no_listen,
    )


async def _serve(relay: OutboxRelay, once: bool) -> None:
    if once:
        await relay.drain()
        return
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    async with relay:
        logging.getLogger("fastapi_events.outbox").info(
            "outbox relay %s publishing %s (listening: %s)",
            relay.owner,
            relay.outbox.table.fullname,
            relay.listening,
        )
        await stopped.wait()


async def _run(args: argparse.Namespace, engine: sa.Engine | AsyncEngine, job: Any) -> None:
    try:
        if isinstance(job, OutboxRelay):
            await _serve(job, args.once)
        elif args.command == "create-table" and isinstance(engine, AsyncEngine):
            await job.create_table_async(engine)
        elif args.command == "create-table":
            job.create_table(engine)
        else:
            print(json.dumps(dataclasses.asdict(await read_stats(Database(engine), job))))
    finally:
        if isinstance(engine, AsyncEngine):
            await engine.dispose()
        else:
            engine.dispose()


def main(argv: Sequence[str] | None = None, *, configure_logging: bool = False) -> int:
    """Run the command line; return the exit status (2: a wrong option or module:attr).

    ``configure_logging``: log to stderr at ``--log-level`` (what ``python -m`` does).
    """
    args = parser().parse_args(argv)
    if configure_logging:
        logging.basicConfig(
            level=args.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    try:
        engine = _engine(args.url)
        job = _relay(args, engine) if args.command == "relay" else _outbox(args)
    except _SETUP_ERRORS as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_run(args, engine, job))
    return 0
