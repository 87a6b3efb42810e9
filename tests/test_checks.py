"""Bad arguments fail at construction, naming the argument, the type and the fix."""

from __future__ import annotations

import math
from typing import Any

import pytest

from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.local import LocalHandler, local_handler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.scope import event_scope


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that is never called."""


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"failure_status": 500}, "failure_status"),
        ({"failure_status": None}, "failure_status"),
        ({"failure_status": lambda: True}, "failure_status"),
        ({"shutdown_timeout": "10"}, "shutdown_timeout"),
        ({"shutdown_timeout": -1}, "shutdown_timeout"),
        ({"shutdown_timeout": math.nan}, "shutdown_timeout"),
        ({"shutdown_timeout": True}, "shutdown_timeout"),
        ({"tracer_provider": object()}, "tracer_provider"),
        ({"meter_provider": "global"}, "meter_provider"),
        ({"middleware_id": "7"}, "middleware_id"),
        ({"middleware_id": 7.0}, "middleware_id"),
        ({"handlers": None}, "handlers"),
        ({"handlers": local_handler}, "handlers=\\[localhandler\\]"),
        ({"handlers": "local_handler"}, "handlers"),
        ({"handlers": 3}, "handlers"),
        ({"on_error": "log"}, "on_error"),
    ],
)
def test_bad_arguments_fail_at_construction(options: dict[str, Any], named: str) -> None:
    """Each bad argument raises ConfigurationError naming it and the wrong type."""
    arguments: dict[str, Any] = {"handlers": [LocalHandler()], **options}
    with pytest.raises(ConfigurationError, match=named) as info:
        EventHandlerASGIMiddleware(bare_app, **arguments)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("timeout", [0, 2.5, math.inf])
def test_good_shutdown_timeouts_are_accepted(timeout: float) -> None:
    """Zero, a float and math.inf (wait forever) are accepted."""
    middleware = EventHandlerASGIMiddleware(bare_app, handlers=[], shutdown_timeout=timeout)
    assert middleware.pipeline.shutdown_timeout == timeout


def test_the_secret_in_a_bad_argument_is_not_echoed() -> None:
    """A bad value's content never appears in the message: only its type."""
    with pytest.raises(ConfigurationError) as info:
        EventHandlerASGIMiddleware(bare_app, handlers=[LocalHandler()], shutdown_timeout="s3cr3t")
    assert "s3cr3t" not in str(info.value)
    assert "str" in str(info.value)


@pytest.mark.anyio
async def test_event_scope_checks_its_handlers() -> None:
    """event_scope(handlers=local_handler) fails the same way."""
    with pytest.raises(ConfigurationError, match="handlers"):
        async with event_scope(handlers=local_handler):  # type: ignore[arg-type]
            pass
