"""The exception hierarchy."""

from __future__ import annotations

import pytest

from fastapi_events import errors
from fastapi_events._event import Event


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_an_exception_and_a_fastapi_event_error(name: str) -> None:
    """`except Exception` catches our errors (0.12 derived from BaseException)."""
    cls = getattr(errors, name)
    assert issubclass(cls, Exception)
    assert issubclass(cls, errors.FastapiEventError)


def test_compatibility_bases() -> None:
    """Errors that 0.12 code may catch by builtin type keep those bases."""
    assert issubclass(errors.MultiplePayloadsDetectedDuringDispatch, ValueError)
    assert issubclass(errors.OutsideEventScopeError, LookupError)
    assert issubclass(errors.UnknownMiddlewareIdError, LookupError)
    assert issubclass(errors.InvalidEventNameError, TypeError)
    assert issubclass(errors.MissingEventNameDuringDispatch, errors.MissingEventNameError)


def test_pending_events_timeout_message_caps_long_names() -> None:
    """Ten 1 MiB names still make a short message: each name is echoed capped."""
    message = str(errors.PendingEventsTimeout([Event("n" * 2**20) for _ in range(12)], 1.0))
    assert len(message) <= 1500 and message.endswith("and 2 more")
