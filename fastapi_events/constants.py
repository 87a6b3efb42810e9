"""Names of the environment variables fastapi_events reads."""

from __future__ import annotations

__all__ = [
    "FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR",
    "FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR",
]

#: Set to a truthy value (1, true, yes, on, y, t) to make ``dispatch()`` a no-op.
FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR = "FASTAPI_EVENTS_DISABLE_DISPATCH"
#: Set to a falsy value to make handler spans children of the dispatch span.
FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR = "FASTAPI_EVENTS_USE_SPAN_LINKING"
