"""Argument checks for the middleware, scopes, pipelines, consumers and the ingress: bad
input fails at construction, naming the argument, the type it got and the fix (never a
value, but for a number out of the range we check)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

from ._redact import capped_repr
from .errors import ConfigurationError
from .handlers.base import BaseEventHandler

__all__ = [
    "check_count",
    "check_dead_letter",
    "check_failure_status",
    "check_middleware_id",
    "check_otel_spans",
    "check_providers",
    "check_seconds",
    "check_shutdown_timeout",
    "check_text",
    "check_texts",
    "validate_handlers",
]


def validate_handlers(handlers: Iterable[object]) -> tuple[BaseEventHandler, ...]:
    """Materialise ``handlers`` once and check each is a :class:`BaseEventHandler`."""
    if isinstance(handlers, BaseEventHandler):
        raise ConfigurationError(
            f"handlers must be a list of handler objects, got one {type(handlers).__name__}; "
            f"pass handlers=[{type(handlers).__name__.lower()}]"
        )
    if handlers is None or isinstance(handlers, (str, bytes)) or not _iterable(handlers):
        raise ConfigurationError(
            f"handlers must be a list of handler objects, got {type(handlers).__name__}; "
            f"pass e.g. handlers=[local_handler]"
        )
    materialised: list[BaseEventHandler] = []
    for handler in handlers:
        if not isinstance(handler, BaseEventHandler):
            raise ConfigurationError(
                f"handlers must be BaseEventHandler instances, got {_describe(handler)}; "
                f"wrap plain functions with LocalHandler().register(...)"
            )
        materialised.append(handler)
    return tuple(materialised)


def _describe(value: object) -> str:
    name = getattr(value, "__qualname__", None)
    kind = type(value).__name__
    return f"{kind} {str(name)[:80]}" if isinstance(name, str) else f"a {kind} object"


def _iterable(value: object) -> bool:
    try:
        iter(value)  # type: ignore[call-overload]
    except TypeError:
        return False
    return True


def check_shutdown_timeout(timeout: Any) -> float:
    """Return ``timeout`` as a float of seconds (``>= 0``, ``math.inf`` waits forever)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ConfigurationError(
            f"shutdown_timeout must be a number of seconds, got {type(timeout).__name__}; "
            f"pass e.g. shutdown_timeout=10.0"
        )
    if math.isnan(timeout) or timeout < 0:
        raise ConfigurationError(
            "shutdown_timeout must be >= 0 seconds (math.inf waits forever), got a "
            f"{'NaN' if math.isnan(timeout) else 'negative number'}"
        )
    return float(timeout)


def check_providers(tracer_provider: Any, meter_provider: Any) -> None:
    """Check the OpenTelemetry providers have ``get_tracer`` / ``get_meter``."""
    for argument, value, method in (
        ("tracer_provider", tracer_provider, "get_tracer"),
        ("meter_provider", meter_provider, "get_meter"),
    ):
        if value is not None and not callable(getattr(value, method, None)):
            raise ConfigurationError(
                f"{argument} must be an OpenTelemetry provider with {method}(), got a "
                f"{type(value).__name__} object; pass e.g. opentelemetry.sdk's "
                f"{'TracerProvider' if method == 'get_tracer' else 'MeterProvider'}()"
            )


def check_otel_spans(otel_spans: Any) -> Literal["two", "one"]:
    """``otel_spans`` is ``"two"`` or ``"one"`` (spans per event)."""
    if otel_spans not in ("two", "one") or not isinstance(otel_spans, str):
        raise ConfigurationError(
            f"otel_spans must be 'two' (a dispatch and a process span per event) or 'one' "
            f"(the process span only), got a {type(otel_spans).__name__}; "
            f"pass e.g. otel_spans='one'"
        )
    return otel_spans  # type: ignore[return-value]


def check_middleware_id(middleware_id: Any) -> None:
    """``middleware_id`` is an ``int`` or ``None``."""
    if middleware_id is not None and (
        isinstance(middleware_id, bool) or not isinstance(middleware_id, int)
    ):
        raise ConfigurationError(
            f"middleware_id must be an int, got {type(middleware_id).__name__}; "
            f"pass e.g. middleware_id=1 and dispatch(..., middleware_id=1)"
        )


def check_failure_status(failure_status: Any) -> Callable[[int], bool]:
    """``failure_status`` is a callable taking the response status."""
    fix = "pass e.g. failure_status=lambda status: status >= 500"
    if not callable(failure_status):
        raise ConfigurationError(
            f"failure_status must be a callable (status) -> bool, got "
            f"{type(failure_status).__name__}; {fix}"
        )
    try:
        inspect.signature(failure_status).bind(500)
    except TypeError:
        raise ConfigurationError(
            f"failure_status must accept one argument (the status), got "
            f"{getattr(failure_status, '__qualname__', type(failure_status).__name__)}; {fix}"
        ) from None
    except ValueError:  # no signature (some builtins): trust it
        pass
    return failure_status  # type: ignore[no-any-return]


def check_dead_letter(dead_letter: object) -> BaseEventHandler | None:
    """A handler object for ``dead_letter=``; a plain function becomes one (its events)."""
    if dead_letter is None or isinstance(dead_letter, BaseEventHandler):
        return dead_letter
    if not callable(dead_letter):
        raise ConfigurationError(
            f"dead_letter must be a handler object or a function of the event, got "
            f"{type(dead_letter).__name__}; pass e.g. dead_letter=SQSForwardHandler(dlq_url)"
        )
    from .handlers.local import LocalHandler

    handler = LocalHandler()
    handler.register(dead_letter)
    return handler


def check_count(name: str, value: Any, *, example: str | None = None) -> int:
    """``value`` as an int if it is an int >= 1 (not a bool), else ConfigurationError.

    The message names the type it got (the int itself when it is < 1) and, given
    ``example``, the fix: ``pass e.g. {name}={example}``.
    """
    integer = isinstance(value, int) and not isinstance(value, bool)
    if not integer or value < 1:
        got = capped_repr(value) if integer else type(value).__name__
        raise ConfigurationError(f"{name} must be an int >= 1, got {got}{_fix(name, example)}")
    return int(value)


def check_seconds(
    name: str, value: Any, *, zero: bool = False, example: str | None = None
) -> float:
    """``value`` as float seconds if it is a finite number > 0 (>= 0 with ``zero``).

    The message names the type it got (the number itself when it is out of range) and,
    given ``example``, the fix: ``pass e.g. {name}={example}``.
    """
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        got = capped_repr(value) if number else type(value).__name__
        raise ConfigurationError(
            f"{name} must be a finite number of seconds {bound}, got {got}{_fix(name, example)}"
        )
    return float(value)


def check_text(name: str, value: Any, *, example: str | None = None) -> str:
    """``value`` if it is a non-empty str, else ConfigurationError naming its type (never
    its content) and, given ``example``, the fix: ``pass e.g. {name}={example}``."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(
            f"{name} must be a non-empty str, got {_kind(value)}{_fix(name, example)}"
        )
    return value


def check_texts(name: str, value: Any, *, example: str | None = None) -> tuple[str, ...]:
    """``value`` as a tuple of non-empty str; it must be a non-empty iterable, not a str."""
    items = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
    if items and all(isinstance(item, str) and item for item in items):
        return items
    if items is None:
        got = _kind(value)
    elif not items:
        got = f"an empty {type(value).__name__}"
    else:
        kinds = ", ".join(sorted({_kind(item) for item in items}))
        got = f"a {type(value).__name__} of {kinds}"
    raise ConfigurationError(
        f"{name} must be a non-empty list of non-empty str, got {got}{_fix(name, example)}"
    )


def _kind(value: object) -> str:
    return "an empty str" if isinstance(value, str) and not value else type(value).__name__


def _fix(name: str, example: str | None) -> str:
    return "" if example is None else f"; pass e.g. {name}={example}"
