"""The global OpenTelemetry providers, read cheaply: the one place that uses OpenTelemetry's
internals (``trace._TRACER_PROVIDER``, ``metrics._internal._METER_PROVIDER``,
``_ProxyMeterProvider``).

Why: ``trace.get_tracer_provider()`` and ``metrics.get_meter_provider()`` look up
``os.environ`` on every call, and the call sites ask per batch; a module attribute read is
what "has an SDK been configured yet?" costs here. Imported only when opentelemetry is.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.metrics._internal import _ProxyMeterProvider

__all__ = [
    "any_global_provider_set",
    "global_meter_provider",
    "global_tracer_provider",
    "usable_meter_provider",
]

_MISSING = object()
# Set when an environment variable names the provider to load at first use.
_TRACER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
_METER_FROM_ENV = "OTEL_PYTHON_METER_PROVIDER" in os.environ


def global_tracer_provider() -> Any:
    """The global tracer provider once one is set, else ``None`` (a module attribute read:
    ``trace.get_tracer_provider()`` also looks up ``os.environ`` on every call)."""
    provider = getattr(trace, "_TRACER_PROVIDER", _MISSING)
    if provider is None and not _TRACER_FROM_ENV:
        return None
    provider = trace.get_tracer_provider()
    return None if isinstance(provider, trace.ProxyTracerProvider) else provider


def global_meter_provider() -> Any:
    """The global meter provider once one is set, else ``None`` (see above)."""
    provider = getattr(metrics_internal, "_METER_PROVIDER", _MISSING)
    if provider is None and not _METER_FROM_ENV:
        return None
    provider = metrics.get_meter_provider()
    return None if isinstance(provider, _ProxyMeterProvider) else provider


def usable_meter_provider(provider: Any) -> bool:
    """True for a provider that records (not ``None``, a no-op or the API's proxy)."""
    return provider is not None and not isinstance(
        provider, NoOpMeterProvider | _ProxyMeterProvider
    )


def any_global_provider_set() -> bool:
    """False while neither global provider was ever set nor is named by the environment
    (two attribute reads: the per-request check)."""
    return not (
        getattr(trace, "_TRACER_PROVIDER", _MISSING) is None
        and getattr(metrics_internal, "_METER_PROVIDER", _MISSING) is None
        and not (_TRACER_FROM_ENV or _METER_FROM_ENV)
    )
