"""Draw the scaling table of a results file as ``results/scaling.png``.

    .venv/bin/pip install -e ".[bench]"           # matplotlib
    .venv/bin/python benchmarks/chart.py          # reads results/latest.json
    .venv/bin/python benchmarks/chart.py results/quick.json --out /tmp/scaling.png

Four panels: the requests/s ratio to the bare app and the cost per event at 1, 10 and 100
events per request (ours and 0.12.2), bytes per pending event, and forwarding throughput
against the added round-trip time per call (the ``forwarding_rtt`` key, when the results
have it; the panel says so when they do not).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

__all__ = ["draw", "main"]


def _by_events(axes: Any, scaling: dict[str, Any], key: str, title: str, log_y: bool) -> None:
    counts = scaling["events_per_request"]
    for name in (k for k in scaling if k not in ("events_per_request", "memory")):
        axes.plot(counts, scaling[name][key], marker="o", label=name)
    axes.set_xscale("log")
    if log_y:
        axes.set_yscale("log")
    axes.set_xticks(counts, [str(count) for count in counts])
    axes.set_xlabel("events per request")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()


def _memory(axes: Any, memory: dict[str, Any]) -> None:
    counts = memory["counts"]
    axes.plot(counts, memory["request_buffer_bytes"], marker="o", label="in a request's buffer")
    axes.plot(counts, memory["background_queue_bytes"], marker="s", label="in the background")
    values = memory["request_buffer_bytes"] + memory["background_queue_bytes"]
    for count, value in zip(counts, memory["background_queue_bytes"], strict=True):
        axes.annotate(f"{value:.0f} B", (count, value), textcoords="offset points", xytext=(0, 8))
    axes.set_xscale("log")
    axes.set_ylim(0, max(values) * 1.4)
    axes.set_xlabel("pending events")
    axes.set_title("bytes per pending event (tracemalloc)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()


def _forwarding(axes: Any, rtt: dict[str, Any] | None) -> None:
    axes.set_title("forwarding: events/s by added round trip per call")
    if not rtt or not rtt.get("delays_ms"):
        axes.text(
            0.5,
            0.5,
            "no forwarding_rtt in this results file",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
        axes.set_axis_off()
        return
    delays = rtt["delays_ms"]
    axes.plot(delays, rtt["events_per_s"], marker="o", label="measured")
    ceiling = rtt.get("ceiling_events_per_s")
    if isinstance(ceiling, (int, float)):
        axes.axhline(ceiling, linestyle="--", color="grey", label="ceiling")
    elif isinstance(ceiling, list) and len(ceiling) == len(delays):
        axes.plot(delays, ceiling, linestyle="--", color="grey", label="ceiling")
    axes.set_xlabel("added ms per call")
    axes.set_ylabel("events/s")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend()


def draw(results: dict[str, Any], out: Path) -> None:
    """Write the four-panel chart of ``results`` (a run.py JSON) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scaling = results["scaling"]
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    _by_events(axes[0][0], scaling, "ratio", "requests/s, ratio to the bare app", True)
    title = "µs per event (dispatch + handle; the request's overhead shared)"
    _by_events(axes[0][1], scaling, "us_per_event", title, True)
    _memory(axes[1][0], scaling["memory"])
    _forwarding(axes[1][1], results.get("forwarding_rtt"))
    machine = results.get("machine", {})
    figure.suptitle(
        f"fastapi_events scaling - {machine.get('cpus', '?')} CPUs {machine.get('cpu', '?')}, "
        f"Python {machine.get('python', '?')}" + (" (quick run)" if results.get("quick") else "")
    )
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)


def main() -> None:
    """Parse the arguments, read the results, draw."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("results", nargs="?", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scaling.png")
    args = parser.parse_args()
    draw(json.loads(args.results.read_text()), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
