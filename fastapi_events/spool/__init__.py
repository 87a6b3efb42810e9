"""Durable spooling: events survive a crash between dispatch and their handlers.

Give the middleware a spool (``spool=SQLiteSpool(path)``): a request's events are written
before any handler sees them, marked done per handler as each one finishes, and replayed at
start-up — to the handlers that had not finished, in their original order, with their
original ids and timestamps — when the process that owned them died (``kill -9``, a crash,
a shutdown timeout). Delivery is at-least-once: a handler that finished but died before its
mark sees the event again.

.. versionadded:: 1.0
"""

from ._base import Spool, SpooledEvent
from ._sqlite import SQLiteSpool

__all__ = ["SQLiteSpool", "Spool", "SpooledEvent"]
