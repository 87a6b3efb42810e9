"""Connecting to NATS as the forwarder and the consumer both do: fail fast at start-up
(each server tried once within the timeout), then reconnect forever once connected."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

__all__ = ["connect_nats"]

#: Options of nats.connect that apply once connected (start-up fails fast instead).
_RECONNECTION = ("max_reconnect_attempts", "reconnect_time_wait")


async def connect_nats(nc: Any, url: str, timeout: float, options: Mapping[str, Any]) -> Any:
    """Connect the nats-py client ``nc`` to ``url`` (comma-separated servers, each tried
    once within ``timeout`` seconds); once connected it reconnects forever, 1 s apart,
    unless ``options`` say otherwise. A client that failed to connect is closed.

    Returns:
        ``nc``, connected.
    """
    settings: dict[str, Any] = {
        "connect_timeout": min(2.0, timeout),
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 1.0,
        **options,
    }
    running = {key: settings.pop(key) for key in _RECONNECTION}
    servers = [server.strip() for server in url.split(",")]
    try:
        await asyncio.wait_for(
            nc.connect(servers, max_reconnect_attempts=1, reconnect_time_wait=0, **settings),
            timeout,
        )
    except BaseException:
        with contextlib.suppress(Exception):  # a client that never got far cannot close
            await nc.close()
        raise
    nc.options.update(running)
    return nc
