"""Exceptions raised by fastapi_events.

Every exception derives from :class:`FastapiEventError`, which derives from
:class:`Exception` (0.12 derived from ``BaseException``, so ``except Exception``
missed it).
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "EventsCancelledError",
    "FastapiEventError",
    "InvalidEventNameError",
    "MissingEventNameDuringDispatch",
    "MissingEventNameDuringRegistration",
    "MissingEventNameError",
    "MultiplePayloadsDetectedDuringDispatch",
    "OutsideEventScopeError",
    "ShutdownTimeoutError",
    "UnknownMiddlewareIdError",
]


class FastapiEventError(Exception):
    """Base class of every error raised by fastapi_events."""


class ConfigurationError(FastapiEventError):
    """A handler, middleware, schema or option was configured wrongly."""


class MissingEventNameError(FastapiEventError):
    """An event name was needed but none could be found."""


class MissingEventNameDuringRegistration(MissingEventNameError):
    """A schema was registered without ``event_name=`` or ``__event_name__``."""


class MissingEventNameDuringDispatch(MissingEventNameError):
    """A model was dispatched without ``event_name=`` or ``__event_name__``."""


class MultiplePayloadsDetectedDuringDispatch(FastapiEventError, ValueError):
    """``dispatch()`` received a model *and* a ``payload=``."""


class InvalidEventNameError(FastapiEventError, TypeError):
    """An event name that is neither a ``str`` nor an ``Enum``.

    .. versionadded:: 1.0
    """


class OutsideEventScopeError(FastapiEventError, LookupError):
    """``dispatch()`` was called outside any request and without ``middleware_id``.

    Also a :class:`LookupError`, which is what 0.12 raised here.

    .. versionadded:: 1.0
    """


class UnknownMiddlewareIdError(OutsideEventScopeError):
    """``dispatch(middleware_id=...)`` named an id no middleware registered.

    .. versionadded:: 1.0
    """


class EventsCancelledError(FastapiEventError):
    """Passed to the error hook for each event whose background task was cancelled before
    the event was handled (for example, the event loop was closed under it).

    .. versionadded:: 1.0
    """


class ShutdownTimeoutError(FastapiEventError, TimeoutError):
    """Passed to the error hook for each event still unhandled at shutdown.

    .. versionadded:: 1.0
    """
