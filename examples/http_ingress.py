"""Receive events over HTTP: a signed CloudEvents webhook into your local handlers.

Run it with ``python examples/http_ingress.py`` (needs ``fastapi-events[examples]``). It
serves a FastAPI app under uvicorn on a free loopback port, with an
:class:`~fastapi_events.ingress.EventIngress` at ``POST /events`` verifying an HMAC
signature, then plays the sender:

* a structured CloudEvent and a batch of two are handled (200), each handler seeing the
  event's id, name, payload and time as sent;
* a request with a wrong signature is refused (401), one whose payload does not match its
  pydantic schema too (422, naming the field path), and so is a body over the cap (413);
* a batch whose second event's handler fails once is answered 500 (a batch is all or
  nothing); the sender signs again and retries, and ``deduplicate=True`` skips the event
  the first attempt already handled.

Pub/Sub push and SNS subscriptions use the same endpoint class with their own verifiers
(``PubSubOIDCVerifier``, ``SNSSignatureVerifier``): see docs/ingress.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import datetime, timezone
from typing import Any

try:
    import httpx
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[examples]'")

from fastapi_events import Event
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.ingress import EventIngress, HMACVerifier
from fastapi_events.registry.payload_schema import registry

SECRET = "example-secret-" + uuid.uuid4().hex  # shared with the sender out of band
CLOUDEVENT = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}

# --- the receiving service ----------------------------------------------------------------


@registry.register(event_name="order.placed")
class OrderPlaced(BaseModel):
    """The payload of ``order.placed``: checked by the ingress before any handler runs."""

    order: int
    quantity: int


handler = LocalHandler()
attempts: dict[str, int] = {}


@handler.register(event_name="order.*")
async def fulfil(event: Event) -> None:
    """Order 3 fails on its first delivery (the warehouse is briefly down)."""
    attempts[event.id] = attempts.get(event.id, 0) + 1
    if event.payload["order"] == 3 and attempts[event.id] == 1:
        print("handler failed on order=3 (first delivery)")
        raise RuntimeError("warehouse unavailable")
    print(f"handled {event.name} order={event.payload['order']} id={event.id}")


ingress = EventIngress(
    handlers=[handler],
    verifier=HMACVerifier(SECRET),
    formats=["cloudevents"],
    max_body_bytes=64 * 1024,
    deduplicate=True,
)
app = FastAPI(lifespan=ingress.lifespan)
app.add_route("/events", ingress, methods=["POST"])

# --- the sender --------------------------------------------------------------------------

sender = HMACVerifier(SECRET)  # sign() gives the two headers of the documented scheme


def cloudevent(order: int, quantity: Any = 1) -> dict[str, Any]:
    """A structured CloudEvent for ``order.placed``."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/shop",
        "type": "order.placed",
        "time": datetime.now(timezone.utc).isoformat(),
        "datacontenttype": "application/json",
        "data": {"order": order, "quantity": quantity},
    }


async def send(
    http: httpx.AsyncClient, label: str, body: Any, headers: dict[str, str], sign: bool = True
) -> httpx.Response:
    """POST ``body`` signed afresh (every delivery, retries included); print the answer."""
    raw = json.dumps(body).encode()
    signed = sender.sign(raw) if sign else {**sender.sign(raw), "x-event-signature": "sha256=0"}
    response = await http.post("/events", content=raw, headers={**headers, **signed})
    detail = response.json().get("error", "")
    print(f"POST {label} -> {response.status_code} {detail}".rstrip())
    return response


async def play_sender(http: httpx.AsyncClient) -> None:
    """Every case of the module docstring, in order."""
    await send(http, "order 1", cloudevent(1), CLOUDEVENT)
    await send(http, "batch of 2", [cloudevent(2), cloudevent(4)], BATCH)
    await send(http, "forged", cloudevent(5), CLOUDEVENT, sign=False)
    await send(http, "invalid", cloudevent(6, quantity="a-dozen-or-so"), CLOUDEVENT)
    await send(http, "oversize", cloudevent(7, quantity=1) | {"pad": "x" * 70_000}, CLOUDEVENT)
    flaky = [cloudevent(8), cloudevent(3)]
    for attempt in (1, 2, 3):  # a sender retries until it gets 2xx, a few times at most
        response = await send(http, f"batch 8+3 attempt {attempt}", flaky, BATCH)
        if response.is_success:
            break


async def main() -> int:
    """Serve the app on 127.0.0.1, play the sender against it, stop; 0 if all went well."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(1000):  # up to 10 s for the server to listen
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        print("uvicorn did not start", file=sys.stderr)
        return 1
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await play_sender(http)
    finally:
        server.should_exit = True
        await serving
    stats = ingress.stats
    print(
        f"stats handled={stats.handled} failed={stats.failed} duplicates={stats.duplicates} "
        f"rejected={stats.rejected} unauthorized={stats.unauthorized}"
    )
    return 0 if (stats.handled, stats.duplicates) == (5, 1) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
