"""A worker process for the spool tests: spools events, handles some, then hangs until killed.

    python -m tests.spool.worker SPOOL_PATH OUT_DIR COUNT

Two handler objects: ``first`` records each event in OUT_DIR/first and finishes; ``second``
records in OUT_DIR/second and, from the event whose payload has ``hang``, never returns.
The process writes OUT_DIR/ready once its events are spooled and handling has started.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.spool import SQLiteSpool

LEASE = 0.5


def recorder(out: Path, name: str, hang: asyncio.Event | None = None) -> LocalHandler:
    handler = LocalHandler()

    @handler.register
    async def record(event: Any) -> None:
        if hang is not None and event.payload.get("hang"):
            (out / "ready").write_text("hanging")
            await asyncio.Event().wait()  # until the process is killed
        with (out / name).open("a") as file:
            file.write(f"{event.id} {event.payload['n']}\n")

    return handler


async def main(path: str, out: Path, count: int) -> None:
    first, second = recorder(out, "first"), recorder(out, "second", asyncio.Event())
    async with event_scope(handlers=[first, second], spool=SQLiteSpool(path, lease=LEASE)):
        for n in range(count):
            dispatch("job.run", {"n": n, "hang": n == count // 2})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
