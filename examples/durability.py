"""Durable events: a spool that survives ``kill -9``, retries with a dead letter, backpressure.

Run it with ``python examples/durability.py`` (needs ``fastapi-events[examples]``). It serves
this file's FastAPI app under uvicorn on 127.0.0.1 twice, on one SQLite spool in a temp dir:

1. run 1 takes 30 events whose handler is slow, and is killed with SIGKILL mid-way;
2. run 2 replays from the spool what run 1 had not finished (same ids), and shows a retried
   function, a dead-lettered one and a burst of late events through a small ``max_pending``.

It prints one line per finding; the handlers append what they see to ``$OUT/log``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

try:
    import httpx
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[examples]'")

from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import RetryPolicy
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.spool import SQLiteSpool
from fastapi_events.typing import Event

OUT = Path(os.environ.get("OUT", tempfile.gettempdir()))
handler = LocalHandler()
flaky_calls: Counter[str] = Counter()


def log(line: str) -> None:
    with (OUT / "log").open("a") as out:
        out.write(line + "\n")


@handler.register(event_name="job.*")
async def slow_job(event: Event) -> None:
    await asyncio.sleep(float(os.environ.get("JOB_DELAY", "0")))
    log(f"job {event.payload['n']} {event.id}")


@handler.register(event_name="order.placed", retry=RetryPolicy(attempts=3, base_delay=0.01))
async def reserve_stock(event: Event) -> None:
    flaky_calls["reserve_stock"] += 1
    if flaky_calls["reserve_stock"] < 3:
        raise ConnectionError("stock service busy")
    log(f"reserve_stock succeeded on call {flaky_calls['reserve_stock']}")


@handler.register(event_name="order.placed", retry=RetryPolicy(attempts=3, base_delay=0.01))
async def charge_card(event: Event) -> None:
    raise ConnectionError("payment gateway unreachable")


def dead_letter(event: Event) -> None:
    log(f"dead letter got {event.key} {event.id}")


async def late_burst() -> None:
    for n in range(20):
        dispatch("late.ping", {"n": n})


@handler.register(event_name="late.*")
async def late_ping(event: Event) -> None:
    log(f"late {event.payload['n']}")


app = FastAPI()
app.add_middleware(
    EventHandlerASGIMiddleware,
    handlers=[handler],
    spool=SQLiteSpool(OUT / "spool.db", lease=0.5),
    dead_letter=dead_letter,
    max_pending=5,
    shutdown_timeout=10,
)


@app.post("/jobs")
async def jobs() -> dict[str, int]:
    for n in range(30):
        dispatch("job.run", {"n": n})
    return {"dispatched": 30}


@app.post("/orders")
async def orders() -> dict[str, bool]:
    dispatch("order.placed", {"order": 1})
    task = asyncio.create_task(late_burst())  # events after the response: the late queue
    app.state.tasks = {task}
    return {"ok": True}


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "durability:app",
        "--app-dir",
        str(Path(__file__).parent),
    ]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "critical"]
    server = subprocess.Popen(cmd, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):  # bounded: 10 s
        try:
            httpx.get(f"{url}/docs", timeout=1)
            return server, url
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("uvicorn did not start")


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="fastapi-events-durability-"))
    log_file = out / "log"
    first, url = serve({"OUT": str(out), "JOB_DELAY": "0.1"})
    httpx.post(f"{url}/jobs", timeout=10)
    time.sleep(1.0)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = [line for line in log_file.read_text().splitlines() if line.startswith("job")]
    print(f"run 1: 30 events dispatched; killed with SIGKILL after {len(before)} handled")
    second, url = serve({"OUT": str(out), "JOB_DELAY": "0"})
    httpx.post(f"{url}/orders", timeout=10)
    for _ in range(200):  # bounded: 10 s
        jobs = [line for line in log_file.read_text().splitlines() if line.startswith("job")]
        late = [line for line in log_file.read_text().splitlines() if line.startswith("late")]
        if len({line.split()[2] for line in jobs}) == 30 and len(late) == 20:
            break
        time.sleep(0.05)
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=30)
    lines = log_file.read_text().splitlines()
    ids = Counter(line.split()[2] for line in lines if line.startswith("job"))
    print(
        f"run 2: replayed {len(ids) - len(before)} events from the spool; "
        f"all 30 handled: {len(ids) == 30}; duplicates: {sum(ids.values()) - len(ids)}"
    )
    print(next(line for line in lines if line.startswith("reserve_stock")))
    print(
        f"charge_card: {sum(line.startswith('dead letter') for line in lines)} event dead-lettered"
    )
    late_count = sum(line.startswith("late") for line in lines)
    print(f"backpressure: 20 late events through max_pending=5: {late_count} handled, none lost")


if __name__ == "__main__":
    main()
