"""Running consumers until SIGTERM or SIGINT: the worker command's loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["serve"]

logger = logging.getLogger("fastapi_events.consumers")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve(consumers: Sequence[Any]) -> bool:
    """Start ``consumers``, run them until SIGTERM or SIGINT, then stop them gracefully
    (each within its ``shutdown_timeout``; a second signal stops them now). Returns
    ``False`` if a consumer's loop ended by itself (a bug: it is logged)."""
    signalled = asyncio.Event()
    received: list[int] = []
    hurried: list[asyncio.Future[None]] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            logger.info("%s: stopping gracefully", signal.Signals(signum).name)
            signalled.set()
            return
        logger.warning("%s again: stopping now", signal.Signals(signum).name)
        for consumer in consumers:
            hurried.append(asyncio.ensure_future(consumer.stop(0)))

    started: list[Any] = []
    with _signal_handlers(on_signal):
        try:
            for consumer in consumers:
                await consumer.start()
                started.append(consumer)
                logger.info("consuming with %s", consumer.describe())
            return await _until_signalled(signalled, started)
        finally:
            await asyncio.gather(*(consumer.stop() for consumer in started))


async def _until_signalled(signalled: asyncio.Event, consumers: Sequence[Any]) -> bool:
    waiting = asyncio.ensure_future(signalled.wait())
    ended = [asyncio.ensure_future(consumer.wait()) for consumer in consumers]
    try:
        await asyncio.wait({waiting, *ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, *ended):
            task.cancel()
    return signalled.is_set()


@contextlib.contextmanager
def _signal_handlers(callback: Any) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for signum in _SIGNALS:
        try:
            loop.add_signal_handler(signum, callback, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            continue
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
