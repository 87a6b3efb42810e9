"""Scenario 4, one worker process: the cost of one event (dispatch + handle) per tracing mode.

Modes: ``not-installed`` (``opentelemetry`` made unimportable before fastapi_events is
imported), ``no-sdk`` (the API installed, no provider configured), and with an SDK
``TracerProvider`` set as the global provider (so fastapi-events 0.12.2 uses it too) and a
counting exporter that does nothing else:

- ``simple``: ``SimpleSpanProcessor`` (each span exported as it ends, on the event loop);
- ``batch-default``: ``BatchSpanProcessor()`` with its defaults (queue of 2,048 spans);
- ``batch-tuned``: ``BatchSpanProcessor`` with the settings docs/observability.md
  recommends (:data:`TUNED`), which drop nothing under this load;
- ``batch-tuned-one``: the same, with ``otel_spans="one"`` (ours only);
- ``sdk-floor``: the ``batch-tuned`` SDK calls of our two spans per event made by hand in
  the bare app, no fastapi_events (``_sdk_floor.py``): what the SDK alone costs.

The cost per event is (time per request with 10 events - time per bare request) / 10, both
measured interleaved in this process. Spans the batch processor dropped (its queue was full)
are counted through its internal ``drop_items`` hook. Runs unchanged in the 0.12.2 venv (the
``otel_spans`` mode excepted). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["MODES", "TUNED", "main"]

MODES = (
    "not-installed",
    "no-sdk",
    "simple",
    "batch-default",
    "batch-tuned",
    "batch-tuned-one",
    "sdk-floor",
)
EVENTS = 10
#: The BatchSpanProcessor settings docs/observability.md recommends for busy services.
TUNED = {"max_queue_size": 16384, "schedule_delay_millis": 1000}


class _Counts:
    """Counts the spans a batch processor dropped: its ``drop_items`` hook (SDK internals,
    called once per dropped span; its "Queue full" log record is deduplicated)."""

    def __init__(self, processor: Any = None) -> None:
        self.dropped = 0
        metrics = getattr(getattr(processor, "_batch_processor", None), "_metrics", None)
        if metrics is not None:
            metrics.drop_items = self.drop_items

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        self.dropped += count


def _install_sdk(mode: str) -> tuple[Any, list[int], _Counts]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    exported = [0]

    class CountingExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            exported[0] += len(spans)
            return SpanExportResult.SUCCESS

    # The "Queue full, dropping Span." warning would go to stderr.
    logging.getLogger("opentelemetry.sdk._shared_internal").propagate = False
    if mode == "simple":
        processor: Any = SimpleSpanProcessor(CountingExporter())
    elif mode == "batch-default":
        processor = BatchSpanProcessor(CountingExporter())
    else:
        processor = BatchSpanProcessor(CountingExporter(), **TUNED)
    counts = _Counts(processor)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider, exported, counts


async def _measure(mode: str, reps: int, budget: float, offset: int) -> dict[str, Any]:
    from _apps import asgi_caller, make_app
    from _stats import interleaved_pair

    provider, exported, counts = None, [0], _Counts()
    if mode not in ("not-installed", "no-sdk"):
        provider, exported, counts = _install_sdk(mode)
    options = {"otel_spans": "one"} if mode.endswith("-one") else {}
    bare = asgi_caller(make_app("starlette", events=None))
    if mode == "sdk-floor":
        from _apps import EVENT_NAME
        from _sdk_floor import floor_app

        ours = asgi_caller(floor_app(EVENTS, EVENT_NAME))
    else:
        ours = asgi_caller(make_app("starlette", events=EVENTS, middleware_options=options))
    await ours()
    ns_per_event, ratios = [], []
    for rep in range(reps):
        bare_rate, rate = await interleaved_pair(
            bare, ours, budget, other_first=(rep + offset) % 2 == 1
        )
        ns_per_event.append((1 / rate - 1 / bare_rate) / EVENTS * 1e9)
        ratios.append(rate / bare_rate)
    if provider is not None:
        provider.force_flush()
    ended = exported[0] + counts.dropped
    return {
        "ns_per_event": ns_per_event,
        "ratios": ratios,
        "otel_imported": sys.modules.get("opentelemetry") is not None,
        "spans_exported": exported[0],
        "spans_dropped": counts.dropped,
        "dropped_share": counts.dropped / ended if ended else 0.0,
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
