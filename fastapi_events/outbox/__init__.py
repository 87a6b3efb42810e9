"""The transactional outbox for SQLAlchemy 2 (extra ``sqlalchemy``).

An event written with :func:`add` (or ``await`` :func:`add_async`) is a row INSERTed in the
caller's own transaction: if the transaction rolls back, the event never goes out; once it
commits, an :class:`OutboxRelay` publishes it to its handlers (local handlers, forwarders),
retrying with backoff and dead-lettering after ``max_attempts``.

Example::

    from fastapi_events import outbox

    with Session(engine) as session, session.begin():
        session.add(Order(id=7))
        outbox.add(session, "order.placed", {"order": 7})

    relay = outbox.OutboxRelay(engine, handlers=[local_handler])
    app = FastAPI(lifespan=relay.lifespan)

.. versionadded:: 1.0
"""

from __future__ import annotations

try:
    import sqlalchemy
except ImportError as exc:  # tested in a subprocess (tests/outbox/test_init.py)
    raise ImportError(
        "fastapi_events.outbox needs SQLAlchemy 2: pip install 'fastapi-events[sqlalchemy]'"
    ) from exc

if int(sqlalchemy.__version__.split(".")[0]) < 2:  # the extra pins >= 2
    raise ImportError(
        f"fastapi_events.outbox needs SQLAlchemy 2, found {sqlalchemy.__version__}: "
        "pip install 'fastapi-events[sqlalchemy]'"
    )

from ._relay import OutboxRelay, OutboxStats
from ._table import DEAD, DEFAULT_OUTBOX, DEFAULT_TABLE_NAME, PENDING, PUBLISHED, Outbox

__all__ = [
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
]

#: The outbox of the module-level functions: table ``fastapi_events_outbox`` on its own
#: ``MetaData`` (``default_outbox.metadata``). Build an :class:`Outbox` of your own to put
#: the table on your models' ``MetaData`` (Alembic) or in a schema.
default_outbox = DEFAULT_OUTBOX

#: :meth:`Outbox.add` of :data:`default_outbox`.
add = default_outbox.add
#: :meth:`Outbox.add_async` of :data:`default_outbox`.
add_async = default_outbox.add_async
#: :meth:`Outbox.create_table` of :data:`default_outbox`.
create_table = default_outbox.create_table
#: :meth:`Outbox.create_table_async` of :data:`default_outbox`.
create_table_async = default_outbox.create_table_async
