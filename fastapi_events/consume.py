"""``python -m fastapi_events.consume module:consumer``: run consumers as a worker process.

Each ``module:attr`` names a :class:`~fastapi_events.consumers.Consumer`, a list of them, or
a function returning either (called once, at start-up). The worker starts
them, consumes until SIGTERM or SIGINT, then stops gracefully: no more receiving, messages
in flight finish within each consumer's ``shutdown_timeout`` (a second signal: now), the
others are given back unhandled, pending acknowledgements are sent. Exit status: 0 after a
signal, 1 if a consumer failed to start or its loop ended by itself, 2 for a wrong
argument.

Example::

    python -m fastapi_events.consume orders.worker:consumer --log-level info

.. versionadded:: 1.0
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._redact import capped_text
from .consumers._options import check_seconds
from .consumers._worker import serve
from .consumers.base import Consumer
from .errors import ConfigurationError

__all__ = ["load", "main", "parser"]

logger = logging.getLogger("fastapi_events.consumers")

#: What a wrong ``module:attr`` or option raises while the worker is set up.
_SETUP_ERRORS = (ImportError, AttributeError, ValueError, TypeError, ConfigurationError)


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m fastapi_events.consume``."""
    root = argparse.ArgumentParser(
        prog="python -m fastapi_events.consume",
        description="Consume events from brokers into your handlers until SIGTERM.",
    )
    root.add_argument("targets", nargs="+", metavar="module:attr", help="consumers to run")
    root.add_argument("--shutdown-timeout", type=float, help="override each consumer's")
    root.add_argument("--log-level", default="INFO")
    return root


def load(spec: str) -> Any:
    """The object ``module:attr`` names (``attr`` may be dotted), the current directory
    importable as a worker command's is."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected module:attr, got {capped_text(spec, 200)!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def _consumers(found: Any, spec: str) -> list[Consumer]:
    if callable(found) and not isinstance(found, Consumer):
        found = found()
    items = [found] if isinstance(found, Consumer) else found
    if not isinstance(items, (list, tuple)) or not all(isinstance(c, Consumer) for c in items):
        raise TypeError(
            f"{capped_text(spec, 200)} must name a Consumer, a list of them or a function "
            f"returning one, got a {type(found).__name__}"
        )
    return list(items)


def _setup(args: argparse.Namespace) -> list[Consumer]:
    consumers: list[Consumer] = []
    for spec in args.targets:
        consumers += _consumers(load(spec), spec)
    if args.shutdown_timeout is not None:
        timeout = check_seconds("--shutdown-timeout", args.shutdown_timeout, zero=True)
        for consumer in consumers:
            consumer.shutdown_timeout = timeout
    return consumers


def main(argv: Sequence[str] | None = None, *, configure_logging: bool = False) -> int:
    """Run the worker command; return the exit status.

    ``configure_logging``: log to stderr at ``--log-level`` (what ``python -m`` does).
    """
    args = parser().parse_args(argv)
    if configure_logging:
        logging.basicConfig(
            level=args.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    try:
        consumers = _setup(args)
    except _SETUP_ERRORS as exc:
        print(f"error: {type(exc).__name__}: {capped_text(str(exc), 300)}", file=sys.stderr)
        return 2
    try:
        clean = asyncio.run(serve(consumers))
    except Exception:
        logger.exception("the worker stopped on an error")
        return 1
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main(configure_logging=True))
