"""Run every benchmark scenario and print one table (plus ``results/latest.json``; a
``--quick`` run writes ``results/quick.json`` instead, so it never replaces real numbers).

    .venv/bin/python benchmarks/run.py            # full run, a few minutes
    .venv/bin/python benchmarks/run.py --quick    # smoke run, well under a minute

Each scenario runs in worker processes; every figure is a ratio to a bare app measured in
the same process, interleaved, as the median of several repetitions (absolute numbers on
shared machines drift). fastapi-events 0.12.2 runs in its own virtual environment under
``benchmarks/.venvs/``, created from PyPI on the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from consume import table as consume_table
from tracing_cost import MODES

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
QUICK_RESULTS = HERE / "results" / "quick.json"
OLD_VERSION = "0.12.2"
OLD_VENV = HERE / ".venvs" / f"fastapi-events-{OLD_VERSION}"
#: 0.12.2 with the same OpenTelemetry SDK as ours, for the tracing comparison only (the
#: other scenarios run 0.12.2 without an SDK installed, as before).
OLD_OTEL_VENV = HERE / ".venvs" / f"fastapi-events-{OLD_VERSION}-otel"

#: Targets of issues 6 and 14 (ratio to the bare Starlette app, in process).
TARGETS = {"0 events": 0.90, "1 event": 0.70, "10 events": 0.50}
#: Events per request of the scaling table (rows of scenarios 1-2).
SCALING_EVENTS = (1, 10, 100)
#: Tracing modes: ours runs all of them, 0.12.2 those with an SDK and two spans per event
#: (``sdk-floor``: our two spans' SDK calls by hand in the bare app, no fastapi_events).
TRACING_MODES = MODES
OLD_TRACING_MODES = ("simple", "batch-default", "batch-tuned")


def worker(python: Path | str, script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` (a worker of this directory) and parse its JSON line."""
    result = subprocess.run(
        [str(python), str(HERE / script), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
        timeout=3600,  # consume.py runs several scripts of up to 900 s
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def old_python(otel: bool = False) -> Path | None:
    """The 0.12.2 venv's interpreter, created (same FastAPI/Starlette as ours, and with
    ``otel`` the same opentelemetry-api/-sdk) if needed."""
    venv = OLD_OTEL_VENV if otel else OLD_VENV
    python = venv / "bin" / "python"
    if python.exists():
        return python
    from importlib.metadata import version

    pins = [f"fastapi-events=={OLD_VERSION}", f"fastapi=={version('fastapi')}"]
    pins += [f"starlette=={version('starlette')}", f"uvicorn=={version('uvicorn')}"]
    if otel:
        pins += [f"{name}=={version(name)}" for name in ("opentelemetry-api", "opentelemetry-sdk")]
    print(f"creating {venv} with {' '.join(pins)} ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"could not create the 0.12.2 venv: {exc}", file=sys.stderr)
        return None
    return python


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def asgi_overhead(quick: bool) -> dict[str, Any]:
    """Scenarios 1-2: ours and 0.12.2, alternating processes; medians of all repetitions
    (``"us_per_request"``: each variant's and its bare app's time per request)."""
    pythons: dict[str, Path | str] = {"ours": sys.executable}
    if (old := old_python()) is not None:
        pythons[OLD_VERSION] = old
    rounds, reps, budget = (1, 1, "0.05") if quick else (4, 3, "0.2")
    collected: dict[str, dict[str, list[float]]] = {name: {} for name in pythons}
    rates: dict[str, dict[str, dict[str, list[float]]]] = {name: {} for name in pythons}
    for round_ in range(rounds):
        order = list(pythons.items())
        for name, python in order if round_ % 2 == 0 else reversed(order):
            out = worker(
                python,
                "asgi_overhead.py",
                "--reps",
                str(reps),
                "--budget",
                budget,
                "--offset",
                str(round_),
            )
            for row, values in out["results"].items():
                collected[name].setdefault(row, []).extend(values["ratios"])
                cell = rates[name].setdefault(row, {"rps": [], "bare": []})
                cell["rps"] += values["rps"]
                cell["bare"] += values["bare"]
    result: dict[str, Any] = {
        name: {row: median(v) for row, v in rows.items()} for name, rows in collected.items()
    }
    result["us_per_request"] = {
        name: {
            row: {"ours": 1e6 / median(cell["rps"]), "bare": 1e6 / median(cell["bare"])}
            for row, cell in rows.items()
        }
        for name, rows in rates.items()
    }
    return result


def scaling(overhead: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    """The scaling table: requests/s ratio and µs per event at 1, 10 and 100 events per
    request (Starlette, from scenarios 1-2), and bytes per pending event."""
    rows: dict[str, Any] = {}
    for name, times in overhead["us_per_request"].items():
        ratios, per_event = [], []
        for count in SCALING_EVENTS:
            row = f"starlette: {count} event" + ("s" if count > 1 else "")
            ratios.append(overhead[name].get(row, float("nan")))
            cell = times.get(row)
            per_event.append((cell["ours"] - cell["bare"]) / count if cell else float("nan"))
        rows[name] = {"ratio": ratios, "us_per_event": per_event}
    return {"events_per_request": list(SCALING_EVENTS), **rows, "memory": memory}


def memory_pending(quick: bool) -> dict[str, Any]:
    """Bytes per pending event (request buffer, background queue) at several counts."""
    return worker(
        sys.executable, "memory_pending.py", *(["--counts", "1000", "10000"] if quick else [])
    )


def dispatch_cost(quick: bool) -> dict[str, float]:
    """Scenario 3: ns per dispatch(), minus the empty loop."""
    out = worker(
        sys.executable, "dispatch_cost.py", *(["--reps", "1", "--loops", "5"] if quick else [])
    )
    ns = {name: median(values) for name, values in out["ns_per_call"].items()}
    baseline = ns.pop("empty loop (baseline)")
    return {name: value - baseline for name, value in ns.items()}


def tracing_cost(quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    """Scenario 4: per-event cost in each tracing mode, ours and 0.12.2 with the same SDK,
    every (version, mode) in its own process, the order alternated per round."""
    jobs: list[tuple[str, Path | str, str]] = [("ours", sys.executable, m) for m in TRACING_MODES]
    if (old := old_python(otel=True)) is not None:
        jobs += [(OLD_VERSION, old, mode) for mode in OLD_TRACING_MODES]
    rounds, args = (1, ["--reps", "1", "--budget", "0.05"]) if quick else (2, ["--reps", "3"])
    ns: dict[tuple[str, str], list[float]] = {(name, mode): [] for name, _, mode in jobs}
    dropped: dict[tuple[str, str], list[float]] = {key: [] for key in ns}
    for round_ in range(rounds):
        for name, python, mode in jobs if round_ % 2 == 0 else reversed(jobs):
            out = worker(python, "tracing_cost.py", mode, *args, "--offset", str(round_))
            ns[(name, mode)].extend(out["ns_per_event"])
            dropped[(name, mode)].append(out["dropped_share"])
    base = median(ns[("ours", "not-installed")])
    result: dict[str, dict[str, dict[str, float]]] = {}
    for (name, mode), values in ns.items():
        result.setdefault(name, {})[mode] = {
            "ns_per_event": median(values),
            "vs_not_installed": median(values) / base,
            "dropped_share": max(dropped[(name, mode)]),
        }
    return result


def latency(quick: bool) -> dict[str, Any]:
    """Scenario 5: uvicorn servers in subprocesses, the load generator in another."""
    servers: dict[str, subprocess.Popen[str]] = {}
    targets: list[str] = []
    try:
        for mode in ("bare", "events"):
            process = subprocess.Popen(
                [sys.executable, str(HERE / "latency_server.py"), mode],
                stdout=subprocess.PIPE,
                text=True,
                cwd=HERE,
            )
            assert process.stdout is not None
            servers[mode] = process
            port = json.loads(process.stdout.readline())["port"]
            targets += ["--target", f"{mode}=http://127.0.0.1:{port}"]
        args = ["--requests", "300", "--reps", "1", "--warmup", "50"] if quick else []
        out = worker(sys.executable, "latency_client.py", *targets, *args)
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(10)
    return {
        name: {
            kind: {k: median([rep[k] for rep in reps]) for k in ("p50_ms", "p99_ms", "rps")}
            for kind, reps in kinds.items()
        }
        for name, kinds in out.items()
    }


def forwarding(quick: bool) -> dict[str, Any]:
    """Scenario 6: 10,000 events to moto's SQS server."""
    return worker(sys.executable, "forwarding.py", *(["--events", "1000"] if quick else []))


#: The keys of the "forwarding_rtt" section (a chart is built from them).
RTT_KEYS = (
    "delays_ms",
    "events_per_s",
    "calls_per_event",
    "stall_p99_ms",
    "stall_max_ms",
    "ceiling_events_per_s",
    "rss_growth_mb",
)


def forwarding_rtt(quick: bool) -> dict[str, Any]:
    """Scenario 7: SQS forwarding at +0/5/20/50 ms per call (light SQS server, delaying
    proxy); the other measurements of ``forwarding_rtt.py`` go under ``details``."""
    out = worker(sys.executable, "forwarding_rtt.py", "--json", *(["--quick"] if quick else []))
    section = {key: out[key] for key in RTT_KEYS}
    section["details"] = {key: value for key, value in out.items() if key not in RTT_KEYS}
    return section


def consume(quick: bool) -> list[dict[str, Any]]:
    """Scenario 8: every ``consume_*.py`` (events/s consumed against the raw client, and
    end-to-end latency where measured), each in its own process; a source whose server
    is missing is reported as skipped (see ``consume.py``)."""
    out = worker(sys.executable, "consume.py", *(["--quick"] if quick else []))
    results: list[dict[str, Any]] = out["consume"]
    return results


def machine() -> dict[str, Any]:
    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def _tracing_lines(tracing: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    lines = [
        "",
        "4. tracing, ns per event (dispatch + handle; target no-sdk <= 1.10x of not-installed,",
        "   batch-default <= 35 us); spans the BatchSpanProcessor dropped (worst process)",
        f"  {'mode':<26}{'ours':>10}{'':>8}{'dropped':>9}{OLD_VERSION:>12}{'dropped':>9}",
    ]
    old = tracing.get(OLD_VERSION, {})
    for mode, v in tracing["ours"].items():
        line = f"  {mode:<26}{v['ns_per_event']:>10.0f}{v['vs_not_installed']:>7.2f}x"
        line += f"{v['dropped_share']:>9.1%}"
        if mode in old:
            line += f"{old[mode]['ns_per_event']:>12.0f}{old[mode]['dropped_share']:>9.1%}"
        lines.append(line)
    if {"batch-tuned", "sdk-floor"} <= tracing["ours"].keys():
        ours, floor = (tracing["ours"][m]["ns_per_event"] for m in ("batch-tuned", "sdk-floor"))
        lines.append(f"  batch-tuned - sdk-floor: {ours - floor:.0f} ns per event of our own")
    return lines


def _scaling_lines(scaling: dict[str, Any]) -> list[str]:
    counts = scaling["events_per_request"]
    lines = ["", "scaling (Starlette, in process): by events per request"]
    lines.append(f"  {'':<30}" + "".join(f"{n:>10}" for n in counts))
    for name in (key for key in scaling if key not in ("events_per_request", "memory")):
        lines.append(
            f"  {name + ': ratio to bare':<30}"
            + "".join(f"{value:>10.3f}" for value in scaling[name]["ratio"])
        )
        lines.append(
            f"  {name + ': us per event':<30}"
            + "".join(f"{value:>10.2f}" for value in scaling[name]["us_per_event"])
        )
    memory = scaling["memory"]
    lines.append(f"  {'pending events':<30}" + "".join(f"{n:>10}" for n in memory["counts"]))
    for key, label in (
        ("request_buffer_bytes", "in a request"),
        ("background_queue_bytes", "in the background"),
    ):
        lines.append(
            f"  {'bytes each, ' + label:<30}" + "".join(f"{value:>10.0f}" for value in memory[key])
        )
    return lines


def table(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}", ""]
    overhead = results["asgi_overhead"]
    names = [name for name in overhead if name != "us_per_request"]
    lines.append("1-2. in-process ASGI, requests/s ratio to the bare app (higher is better)")
    lines.append(f"  {'scenario':<40}" + "".join(f"{n:>10}" for n in names) + "    target")
    for row in overhead["ours"]:
        target = next((f">= {t:.2f}" for k, t in TARGETS.items() if row == f"starlette: {k}"), "")
        cells = "".join(f"{overhead[n].get(row, float('nan')):>10.3f}" for n in names)
        lines.append(f"  {row:<40}{cells}    {target}")
    lines += ["", "3. dispatch(), ns per call (target plain dict <= 500 ns)"]
    lines += [f"  {k:<40}{v:>10.0f}" for k, v in results["dispatch_ns"].items()]
    lines += _tracing_lines(results["tracing"])
    lines += _scaling_lines(results["scaling"])
    lines += ["", "5. uvicorn, client latency ms (handler sleeps 100 ms; target +<= 5 ms p50)"]
    for name, kinds in results["latency"].items():
        for kind, v in kinds.items():
            lines.append(
                f"  {name + ' / ' + kind:<40}p50 {v['p50_ms']:>7.2f}  p99 {v['p99_ms']:>7.2f}"
                f"  {v['rps']:>8.0f} req/s"
            )
    fwd = results["forwarding"]
    lines += ["", "6. forwarding to moto SQS (targets <= 0.1 calls/event, stall <= 5 ms)"]
    if "error" in fwd:
        lines.append(f"  {fwd['error']}")
    else:
        lines.append(
            f"  {fwd['events']} events: {fwd['events_per_s']:.0f} events/s, "
            f"{fwd['send_message_batch_calls'] / fwd['events']:.3f} SendMessageBatch/event, "
            f"{fwd['messages_stored']} stored, largest loop stall "
            f"{fwd['stall']['max_ms']:.2f} ms (p99 {fwd['stall']['p99_ms']:.2f} ms; "
            f"same requests without forwarding {fwd['no_forwarding_stall']['max_ms']:.2f} ms; "
            f"idle loop {fwd['idle_stall']['max_ms']:.2f} ms)"
        )
    lines += ["", "7. SQS forwarding with +N ms per call (light SQS server; targets at +20 ms:"]
    lines.append("   >= 3000 events/s, <= 0.1 calls/event, stall p99 <= 5 ms, max <= 10 ms)")
    lines += _rtt_lines(results["forwarding_rtt"])
    lines += ["", "9. consuming, events/s into a no-op handler vs. the raw client (target ratio"]
    lines.append("   >= 0.8); end-to-end latency from dispatch() in an app to the handler")
    lines += consume_table(results["consume"])
    return "\n".join(lines)


def _rtt_lines(rtt: dict[str, Any]) -> list[str]:
    details = rtt["details"]
    lines = [
        f"  ceiling (botocore CPU per call {details['botocore_cpu_per_call_ms']:.2f} ms): "
        f"{rtt['ceiling_events_per_s']:.0f} events/s; stalls while paced at "
        f"{details['paced_rate_events_per_s']:.0f} events/s; peak RSS growth "
        f"{rtt['rss_growth_mb']:.1f} MB"
    ]
    for i, delay in enumerate(rtt["delays_ms"]):
        lines.append(
            f"  +{delay:<4.0f} {rtt['events_per_s'][i]:>8.0f} events/s "
            f"({details['share_of_ceiling'][i]:.2f} of ceiling), "
            f"{rtt['calls_per_event'][i]:.3f} calls/event, stall p99 "
            f"{rtt['stall_p99_ms'][i]:.2f} ms, max {rtt['stall_max_ms'][i]:.2f} ms"
        )
    return lines


def main() -> None:
    """Run the scenarios, print the table, write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    started = time.time()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    results["asgi_overhead"] = asgi_overhead(args.quick)
    results["dispatch_ns"] = dispatch_cost(args.quick)
    results["tracing"] = tracing_cost(args.quick)
    results["scaling"] = scaling(results["asgi_overhead"], memory_pending(args.quick))
    try:
        results["latency"] = latency(args.quick)
    except subprocess.CalledProcessError as exc:  # seen once on a loaded machine: retry
        detail = exc.stderr[-500:] if exc.stderr else exc
        print(f"latency failed ({detail}); once more", file=sys.stderr)
        results["latency"] = latency(args.quick)
    results["forwarding"] = forwarding(args.quick)
    results["forwarding_rtt"] = forwarding_rtt(args.quick)
    results["consume"] = consume(args.quick)
    results["seconds"] = round(time.time() - started)
    path = QUICK_RESULTS if args.quick else RESULTS
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\n({results['seconds']} s; JSON in {path.relative_to(HERE.parent)})")
    chart = path.with_name("quick_scaling.png" if args.quick else "scaling.png")
    try:
        from chart import draw

        draw(results, chart)
        print(f"(chart in {chart.relative_to(HERE.parent)})")
    except ImportError:
        print("(no chart: pip install -e '.[bench]' for matplotlib)")


if __name__ == "__main__":
    main()
