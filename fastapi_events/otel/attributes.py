"""Span attribute names that fastapi_events sets (the 0.12 import path).

Importing this module does not import opentelemetry.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SpanAttributes"]


class SpanAttributes:
    """Names of the span attributes fastapi_events adds beside the messaging conventions.

    Example::

        from fastapi_events.otel.attributes import SpanAttributes

        handler_path = span.attributes[SpanAttributes.HANDLER]
    """

    #: The dotted path of the code a handler span ran: ``module.qualname`` of a local
    #: handler function, or of the class of a handler object (forwarder ``send`` spans too).
    HANDLER: Final = "fastapi_events.handler"
