"""Bad arguments fail at construction, naming the argument, the type and the fix."""

from __future__ import annotations

import math
from typing import Any

import pytest

from fastapi_events._checks import check_count, check_seconds, check_text, check_texts
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


@pytest.mark.parametrize(
    ("value", "got"),
    [("s3cr3t", "got str"), (2.0, "got float"), (True, "got bool"), (0, "got 0"), (-3, "got -3")],
)
def test_a_bad_count_names_its_type_or_the_number(value: Any, got: str) -> None:
    """check_count names a wrong type (never its content) and echoes only an int < 1."""
    with pytest.raises(ConfigurationError) as info:
        check_count("batch_size", value)
    assert str(info.value) == f"batch_size must be an int >= 1, {got}"


@pytest.mark.parametrize(
    ("value", "zero", "got"),
    [
        ("s3cr3t", False, "got str"),
        (None, True, "got NoneType"),
        (True, False, "got bool"),
        (math.nan, True, "got nan"),
        (math.inf, False, "got inf"),
        (0, False, "got 0"),
        (-0.5, True, "got -0.5"),
    ],
)
def test_bad_seconds_name_their_type_or_the_number(value: Any, zero: bool, got: str) -> None:
    """check_seconds names a wrong type (never its content) and echoes only a number out of
    range; ``zero`` lets 0 through but nothing below it."""
    bound = ">= 0" if zero else "> 0"
    with pytest.raises(ConfigurationError) as info:
        check_seconds("lease", value, zero=zero)
    assert str(info.value) == f"lease must be a finite number of seconds {bound}, {got}"


def test_an_example_adds_the_fix_to_both_checks() -> None:
    """``example=`` appends ``pass e.g. name=example``; without it there is no fix clause."""
    with pytest.raises(ConfigurationError, match=r"got str; pass e\.g\. cache_size=32$"):
        check_count("cache_size", "32", example="32")
    with pytest.raises(ConfigurationError, match=r"got str; pass e\.g\. leeway=60\.0$"):
        check_seconds("leeway", "60", zero=True, example="60.0")


@pytest.mark.parametrize(("value", "zero"), [(1, False), (2.5, False), (0, True), (0.0, True)])
def test_good_seconds_come_back_as_floats(value: float, zero: bool) -> None:
    """A finite number in range is returned as a float; a good count as itself."""
    seconds = check_seconds("lease", value, zero=zero)
    assert seconds == value and type(seconds) is float
    assert check_count("batch_size", 3) == 3


@pytest.mark.parametrize(
    ("value", "got"),
    [("", "got an empty str"), (b"s3cr3t", "got bytes"), (None, "got NoneType"), (7, "got int")],
)
def test_a_bad_text_names_its_type_never_its_content(value: Any, got: str) -> None:
    """check_text refuses anything but a non-empty str, naming only the type."""
    with pytest.raises(ConfigurationError) as info:
        check_text("url", value, example="'redis://127.0.0.1'")
    assert (
        str(info.value) == f"url must be a non-empty str, {got}; pass e.g. url='redis://127.0.0.1'"
    )


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("a", "got str"),
        ([], "got an empty list"),
        (("a", b"s3cr3t", ""), "got a tuple of an empty str, bytes, str"),
    ],
)
def test_bad_texts_name_their_types_never_their_content(value: Any, got: str) -> None:
    """check_texts wants a non-empty list of non-empty str and names only types."""
    with pytest.raises(ConfigurationError) as info:
        check_texts("topics", value)
    assert str(info.value) == f"topics must be a non-empty list of non-empty str, {got}"
    assert check_texts("topics", ["a", "b"]) == ("a", "b")
