"""A transactional outbox: an order and its event commit together, or not at all.

Run it with ``python examples/outbox.py`` (needs ``fastapi-events[sqlalchemy,examples]``).
It serves a FastAPI app under uvicorn on 127.0.0.1 with an SQLite file in a temp dir:

* ``POST /orders`` inserts an order row and writes ``order.placed`` to the outbox in the
  same transaction; an order for a sold-out item is refused and its transaction rolled
  back, so its event never goes out;
* an ``OutboxRelay`` runs in the app's lifespan and publishes committed events, in commit
  order, to a local handler (with their original id and the request's correlation id);
* at exit it prints what the handler received, the orders table and the outbox stats.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

try:
    import httpx
    import sqlalchemy as sa
    import uvicorn
    from fastapi import FastAPI, HTTPException
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[sqlalchemy,examples]'")

from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.outbox import Outbox, OutboxRelay
from fastapi_events.typing import Event

SOLD_OUT = {"unicorn"}
received: list[str] = []


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str]


# The outbox table lives on the models' metadata, so create_all (or Alembic) makes it too.
outbox = Outbox(metadata=Base.metadata)
handler = LocalHandler()


@handler.register(event_name="order.placed")
async def email_customer(event: Event) -> None:
    received.append(f"handled {event.key} {event.payload} (request {event.correlation_id})")


def create_app(engine: sa.Engine) -> FastAPI:
    """The shop: the relay publishes to ``handler`` while the app runs."""
    relay = OutboxRelay(engine, handlers=[handler], outbox=outbox, poll_interval=0.1)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        Base.metadata.create_all(engine)
        async with relay:
            yield

    app = FastAPI(lifespan=lifespan)
    # Only for the correlation id of the request (the relay does the publishing).
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[])
    app.state.relay = relay

    @app.post("/orders")
    def place_order(item: str) -> dict[str, int]:
        with Session(engine) as session, session.begin():  # one transaction
            order = Order(item=item)
            session.add(order)
            session.flush()  # the order id, for the event
            outbox.add(session, "order.placed", {"order": order.id, "item": item})
            if item in SOLD_OUT:
                raise HTTPException(409, f"{item} is sold out")  # rolls both back
            return {"order": order.id}

    return app


async def wait_until_published(relay: OutboxRelay, timeout: float = 10.0) -> None:
    """Wait until the outbox has no pending row left."""
    deadline = time.monotonic() + timeout
    while (await relay.stats()).depth and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="outbox-example-") as directory:
        engine = sa.create_engine(f"sqlite:///{Path(directory) / 'shop.db'}")
        app = create_app(engine)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for n, item in enumerate(["book", "unicorn", "pen"], 1):
                response = client.post(
                    "/orders", params={"item": item}, headers={"X-Request-ID": f"r{n}"}
                )
                print(f"POST /orders?item={item} -> {response.status_code} {response.text}")
        asyncio.run(wait_until_published(app.state.relay))
        server.should_exit = True  # the lifespan stops the relay
        thread.join()
        for line in received:
            print(line)
        with Session(engine) as session:
            print("orders:", [order.item for order in session.scalars(sa.select(Order))])
            rows = session.execute(sa.select(outbox.table.c.name, outbox.table.c.status)).all()
            print("outbox rows:", [tuple(row) for row in rows])
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
