"""OpenTelemetry support (extra ``otel``): detection without importing it."""

from __future__ import annotations

import importlib.util

__all__ = ["HAS_OTEL_INSTALLED", "OTEL_INSTALL_HINT"]

#: True when ``opentelemetry`` can be imported (checked without importing it).
HAS_OTEL_INSTALLED: bool = importlib.util.find_spec("opentelemetry") is not None

OTEL_INSTALL_HINT = (
    "Package 'opentelemetry-api' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[otel]'`"
)
