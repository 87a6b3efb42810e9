"""Scenarios 1 and 2, one worker process: requests/s of the middleware vs. the bare app.

Runs in our venv and, unchanged, in the fastapi-events 0.12.2 venv. Prints one JSON line:
per variant, the per-repetition ratios to the bare app measured right next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
from typing import Any

from _apps import asgi_caller, make_app
from _stats import emit, interleaved_pair

__all__ = ["VARIANTS", "main"]

#: name -> (events per request, extra non-matching patterns)
VARIANTS: dict[str, tuple[int, int]] = {
    "0 events": (0, 0),
    "1 event": (1, 0),
    "10 events": (10, 0),
    "10 events + 100 patterns": (10, 100),
    "100 events": (100, 0),
}
FRAMEWORKS = ("starlette", "fastapi")


async def _measure(reps: int, budget: float, offset: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for framework in FRAMEWORKS:
        bare = asgi_caller(make_app(framework, events=None))
        for name, (events, patterns) in VARIANTS.items():
            ours = asgi_caller(make_app(framework, events=events, extra_patterns=patterns))
            await ours()  # build the middleware stack, fill caches
            row = results.setdefault(f"{framework}: {name}", {"ratios": [], "rps": [], "bare": []})
            for rep in range(reps):
                bare_rate, rate = await interleaved_pair(
                    bare, ours, budget, other_first=(rep + offset) % 2 == 1
                )
                row["ratios"].append(rate / bare_rate)
                row["rps"].append(rate)
                row["bare"].append(bare_rate)
    return results


def main() -> None:
    """Parse the arguments, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budget", type=float, default=0.15, help="seconds per measurement")
    parser.add_argument("--offset", type=int, default=0, help="alternation phase")
    args = parser.parse_args()
    import fastapi_events

    emit(
        {
            "version": importlib.metadata.version("fastapi-events"),
            "module": fastapi_events.__file__,
            "results": asyncio.run(_measure(args.reps, args.budget, args.offset)),
        }
    )


if __name__ == "__main__":
    main()
