"""Scenario 4, one worker process: the cost of one event (dispatch + handle) per tracing mode.

Modes: ``not-installed`` (``opentelemetry`` made unimportable before fastapi_events is
imported), ``no-sdk`` (the API installed, no provider configured) and ``sdk`` (an SDK
``TracerProvider`` with a no-op exporter, passed as ``tracer_provider=``). The cost per event
is (time per request with 10 events - time per bare request) / 10, both measured interleaved
in this process. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["MODES", "main"]

MODES = ("not-installed", "no-sdk", "sdk")
EVENTS = 10


def _sdk_provider() -> tuple[Any, list[int]]:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    exported = [0]

    class CountingExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            exported[0] += len(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(CountingExporter()))
    return provider, exported


async def _measure(mode: str, reps: int, budget: float, offset: int) -> dict[str, Any]:
    from _apps import asgi_caller, make_app
    from _stats import interleaved_pair

    options: dict[str, Any] = {}
    exported = [0]
    if mode == "sdk":
        options["tracer_provider"], exported = _sdk_provider()
    bare = asgi_caller(make_app("starlette", events=None))
    ours = asgi_caller(make_app("starlette", events=EVENTS, middleware_options=options))
    await ours()
    ns_per_event, ratios = [], []
    for rep in range(reps):
        bare_rate, rate = await interleaved_pair(
            bare, ours, budget, other_first=(rep + offset) % 2 == 1
        )
        ns_per_event.append((1 / rate - 1 / bare_rate) / EVENTS * 1e9)
        ratios.append(rate / bare_rate)
    return {
        "ns_per_event": ns_per_event,
        "ratios": ratios,
        "otel_imported": sys.modules.get("opentelemetry") is not None,
        "spans_exported": exported[0],
    }


def main() -> None:
    """Parse the arguments, set the mode up before importing fastapi_events, measure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budget", type=float, default=0.15)
    parser.add_argument("--offset", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "not-installed":
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    from _stats import emit

    result = asyncio.run(_measure(args.mode, args.reps, args.budget, args.offset))
    emit({"mode": args.mode, **result})


if __name__ == "__main__":
    main()
